// One OpenSearch node in this JVM, for Isnad's engine tests: HTTP on 127.0.0.1, a single-node cluster.
//
// The OpenSearch distribution (a tarball) is not in Maven Central, but the server and the modules Isnad
// needs are: analysis-common (the Arabic filters), reindex (delete-by-query), k-NN (knn_vector fields and
// the knn query, on its Lucene engine) and transport-netty4 (HTTP). Node's protected constructor takes
// plugin classes directly, so no plugins folder or installer is involved.
//
// Usage: java -cp 'classes:lib/*' IsnadNode HOME HTTP_PORT
// It prints "isnad-node ready http://127.0.0.1:PORT" once started, and stops on SIGTERM or when its
// standard input closes (so a test session that dies never leaves a node behind).

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.List;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.knn.plugin.KNNPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

public final class IsnadNode extends Node {
    private static final Collection<Class<? extends Plugin>> PLUGINS =
        List.of(CommonAnalysisPlugin.class, ReindexPlugin.class, KNNPlugin.class, Netty4Plugin.class);

    private IsnadNode(Environment environment) {
        super(environment, PLUGINS, true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: IsnadNode HOME HTTP_PORT");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Files.createDirectories(home.resolve("config"));
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "isnad-test")
            .put("node.name", "isnad-test-node")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", "0")  // any free port: nothing else joins this node
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            // The test machine's disk may be fuller than the default watermarks allow.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", false)
            .build();
        LogConfigurator.configureWithoutConfig(settings);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), home.resolve("config"), () -> "isnad-test-node");
        Node node = new IsnadNode(environment);
        node.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception error) {
                System.err.println("isnad-node: closing failed: " + error);
            }
        }));
        System.out.println("isnad-node ready http://127.0.0.1:" + args[1]);
        System.out.flush();
        // Block until the parent closes our standard input (or goes away), then exit through the hook.
        while (System.in.read() != -1) {
            // input is ignored
        }
        System.exit(0);
    }
}
