// SPDX-License-Identifier: Apache-2.0
// A single-node OpenSearch for the tests, run from the Maven Central jars
// (tools/testenv/opensearch/pom.xml) without a distribution: Node's
// protected constructor takes classpath plugins, as the OpenSearch test
// framework's MockNode does, so the Netty4 HTTP transport comes from its jar
// instead of a plugins/ directory.
//   java -cp CLASSPATH:DIR TestNode HOME HTTP_PORT [key=value...]
// The node's threads are daemons: main blocks until SIGTERM, whose shutdown
// hook closes the node.
import java.util.Collections;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.opensearch.common.settings.Settings;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.transport.Netty4Plugin;

public class TestNode extends Node {
    TestNode(Settings settings) {
        super(InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), null,
                  () -> "syncagent-test"),
            Collections.singletonList(Netty4Plugin.class), false);
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
        Node node = new TestNode(b.build());
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
