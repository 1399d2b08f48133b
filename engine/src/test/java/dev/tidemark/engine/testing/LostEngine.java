package dev.tidemark.engine.testing;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.testing.S3ProxyServer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * What the catalog-recovery tests share: a scratch directory with a master key and a repository that outlive an engine's
 * data directory (a directory, or a bucket on an in-process S3 server), and a PostgreSQL cluster to protect. close() stops
 * the cluster and the S3 server and removes the directory.
 */
public final class LostEngine implements AutoCloseable {
    public final Path tmp;
    public final PostgresCluster cluster;
    private final S3ProxyServer s3;

    public LostEngine(String prefix) throws IOException {
        this(prefix, false);
    }

    /** onS3: the repository is bucket "lost" of an in-process S3 server instead of a directory. */
    public LostEngine(String prefix, boolean onS3) throws IOException {
        tmp = Files.createTempDirectory(prefix);
        ServerUser.detect().ownOne(tmp);
        MasterKey.generate().writeTo(tmp.resolve("master.key"));
        s3 = onS3 ? S3ProxyServer.start() : null;
        if (s3 != null) {
            s3.store("lost").close();
        }
        cluster = PostgresCluster.start();
    }

    /** An engine on the shared repository and key, with its own data directory (the one to lose). */
    public EngineConfig config(String data) {
        EngineConfig c = EngineConfig.singleHost(tmp.resolve(data), tmp.resolve("repo"), tmp.resolve("master.key"));
        EngineConfig.RepositoryConfig repository = s3 == null ? c.repository() : new EngineConfig.RepositoryConfig("s3://lost/repo",
                s3.directEndpoint(), "us-east-1", S3ProxyServer.ACCESS_KEY, S3ProxyServer.SECRET_KEY, 10_000);
        return new EngineConfig(c.dataDirectory(), null, null, null, repository, c.masterKeyFile(), false, "zstd", 3, null,
                null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
    }

    @Override
    public void close() {
        cluster.close();
        if (s3 != null) {
            s3.close();
        }
        PostgresCluster.deleteTree(tmp);
    }
}
