// SPDX-License-Identifier: Apache-2.0
// A single-node Elasticsearch 8 for the tests, run from the Maven Central
// jars (tools/testenv/elasticsearch/pom.xml) without a distribution: Node's
// protected constructor takes the PluginsService, here one holding the
// Netty4 HTTP transport from its jar (ClasspathPlugins.java). Started by
// tools/testenv/opensearch/start with SA_NODE_FLAVOUR=elasticsearch.
//   java -cp CLASSPATH:DIR TestNode HOME HTTP_PORT [key=value...]
// The node's threads are daemons: main blocks until SIGTERM, whose shutdown
// hook closes the node.
import java.util.Collections;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.ClasspathPlugins;
import org.elasticsearch.transport.netty4.Netty4Plugin;

public class TestNode extends Node {
    TestNode(Environment env) {
        super(env, settings -> new ClasspathPlugins(settings, env.configFile(), new Netty4Plugin()),
            true);
    }

    public static void main(String[] args) throws Exception {
        String home = args[0];
        Settings.Builder b = Settings.builder()
                                 .put("path.home", home)
                                 .put("path.data", home + "/data")
                                 .put("path.logs", home + "/logs")
                                 .put("cluster.name", "syncagent-test")
                                 .put("node.name", "node-1")
                                 .put("discovery.type", "single-node")
                                 .put("network.host", "127.0.0.1")
                                 .put("http.port", args[1])
                                 .put("transport.port", "0")
                                 // A test machine's disk may be nearly full:
                                 // shards must still be allocated.
                                 .put("cluster.routing.allocation.disk.threshold_enabled", false);
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            b.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Settings settings = b.build();
        // What the distribution's bootstrap does before making a Node.
        LogConfigurator.configureESLogging();
        LogConfigurator.configureWithoutConfig(settings);
        Node node = new TestNode(InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), null, () -> "syncagent-test"));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            }
            stopped.countDown();
        }));
        node.start();
        stopped.await();
    }
}
