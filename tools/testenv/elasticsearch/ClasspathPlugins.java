// SPDX-License-Identifier: Apache-2.0
// The plugins of the test Elasticsearch node (TestNode.java): one plugin
// instance given on the classpath instead of a plugins/ or modules/
// directory, as the Elasticsearch test framework's MockPluginsService does.
// It lives in Node's plugin package because PluginsService.LoadedPlugin is
// package-private there.
package org.elasticsearch.plugins;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.elasticsearch.Version;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.jdk.ModuleQualifiedExportsService;

public class ClasspathPlugins extends PluginsService {
    private final List<LoadedPlugin> loaded;

    public ClasspathPlugins(Settings settings, Path configDir, Plugin plugin) {
        super(settings, configDir, null, null);
        String name = plugin.getClass().getName();
        PluginDescriptor descriptor = new PluginDescriptor(name, "classpath plugin", "NA",
            Version.CURRENT, "17", name, null, List.of(), false, false, false, false);
        loaded = List.of(new LoadedPlugin(descriptor, plugin));
    }

    // The jars are on the classpath, not in module layers: nothing to export
    // (the server's own would look up module descriptors that do not exist).
    @Override
    protected void addServerExportsService(
        Map<String, List<ModuleQualifiedExportsService>> qualifiedExports) {}

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }
}
