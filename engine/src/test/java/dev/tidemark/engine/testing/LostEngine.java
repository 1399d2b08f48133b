package dev.tidemark.engine.testing;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.storage.codec.MasterKey;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * What the catalog-recovery tests share: a scratch directory with a master key and a repository that outlive an engine's
 * data directory, and a PostgreSQL cluster to protect. close() stops the cluster and removes the directory.
 */
public final class LostEngine implements AutoCloseable {
    public final Path tmp;
    public final PostgresCluster cluster;

    public LostEngine(String prefix) throws IOException {
        tmp = Files.createTempDirectory(prefix);
        ServerUser.detect().ownOne(tmp);
        MasterKey.generate().writeTo(tmp.resolve("master.key"));
        cluster = PostgresCluster.start();
    }

    /** An engine on the shared repository and key, with its own data directory (the one to lose). */
    public EngineConfig config(String data) {
        EngineConfig c = EngineConfig.singleHost(tmp.resolve(data), tmp.resolve("repo"), tmp.resolve("master.key"));
        return new EngineConfig(c.dataDirectory(), null, null, null, c.repository(), c.masterKeyFile(), false, "zstd", 3, null,
                null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
    }

    @Override
    public void close() {
        cluster.close();
        PostgresCluster.deleteTree(tmp);
    }
}
