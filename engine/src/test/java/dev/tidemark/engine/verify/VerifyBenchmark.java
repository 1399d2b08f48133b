package dev.tidemark.engine.verify;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.VerifyReport;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.storage.codec.MasterKey;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The speed of verify for docs/benchmarks.md: a pgbench database of the given scale (-Dbench.scale, 30 by default), one
 * base backup and the WAL after it, verified; prints MiB read per second.
 */
@Tag("benchmark")
class VerifyBenchmark {

    @Test
    void verifySpeed() throws Exception {
        String scale = System.getProperty("bench.scale", "30");
        Path tmp = Files.createTempDirectory("tidemark-verify-speed-");
        ServerUser.detect().ownOne(tmp);
        MasterKey.generate().writeTo(tmp.resolve("master.key"));
        try (PostgresCluster cluster = PostgresCluster.start()) {
            EngineConfig c = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("master.key"));
            try (Engine engine = Engine.start(c)) {
                engine.register(new RegisterDatabase("bench", cluster.url(), cluster.dataDirectory().toString(), null, null), "bench");
                cluster.pgbench("postgres", "-i", "-s", scale);
                BackupView requested = engine.requestBaseBackup("bench", "bench");
                BackupView done = await(() -> engine.baseBackup("bench", requested.id()), b -> !b.status().matches("requested|running"),
                        Duration.ofMinutes(10));
                assertThat(done.status()).as(done.failure()).isEqualTo("completed");
                long began = System.nanoTime();
                VerifyReport report = engine.verify("bench");
                double seconds = (System.nanoTime() - began) / 1e9;
                assertThat(report.problems()).isEmpty();
                System.out.printf("verify speed: scale %s, workers %d, %d base backups, %d WAL segments, %d objects, %.1f MiB read"
                                + " (decoded) in %.2f s: %.1f MiB/s; stored %.1f MiB%n", scale, c.workers(), report.baseBackups(),
                        report.walSegments(), report.objects(), report.bytesRead() / 1048576.0, seconds,
                        report.bytesRead() / 1048576.0 / seconds, done.storedBytes() / 1048576.0);
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }
}
