package dev.tidemark.engine.verify;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.VerifyReport;
import dev.tidemark.engine.operations.VerifyReport.Kind;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.storage.codec.MasterKey;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * tidemark verify on a real repository: two base backups with WAL between and after them; intact it passes, and a flipped
 * byte in a WAL segment, a segment missing in the middle of the window and a missing manifest are each named with the
 * part of the window they cost.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VerifyTest {
    private Path tmp;
    private PostgresCluster cluster;
    private Engine engine;
    private BackupView first;
    private BackupView second;

    @BeforeAll
    void start() throws Exception {
        tmp = Files.createTempDirectory("tidemark-verify-");
        ServerUser.detect().ownOne(tmp);
        MasterKey.generate().writeTo(tmp.resolve("master.key"));
        cluster = PostgresCluster.start();
        EngineConfig c = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("master.key"));
        engine = Engine.start(new EngineConfig(c.dataDirectory(), null, null, null, c.repository(), c.masterKeyFile(), false, "zstd", 3,
                null, null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1"));
        engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
        cluster.execute("create table orders(id serial primary key, item text)");
        first = backup();
        switches(3);
        second = backup();
        switches(3);
        Instant written = cluster.serverNow();
        await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && !w.end().isBefore(written), Duration.ofSeconds(60));
    }

    @AfterAll
    void stop() throws Exception {
        if (engine != null) {
            engine.close();
        }
        if (cluster != null) {
            cluster.close();
        }
        PostgresCluster.deleteTree(tmp);
    }

    private BackupView backup() throws Exception {
        BackupView requested = engine.requestBaseBackup("shop", "alice");
        BackupView done = await(() -> engine.baseBackup("shop", requested.id()), b -> !b.status().matches("requested|running"),
                Duration.ofMinutes(2));
        assertThat(done.status()).as(done.failure()).isEqualTo("completed");
        return done;
    }

    private void switches(int count) throws Exception {
        for (int i = 0; i < count; i++) {
            cluster.execute("insert into orders(item) select 'item ' || g from generate_series(1, 2000) g", "select pg_switch_wal()");
        }
    }

    private long startSegment(BackupView b) {
        return WalSegment.containing(b.timeline(), Lsn.parse(b.startLsn()), DatabaseHistory.SEGMENT_SIZE).number();
    }

    /** The stored file of segment number n of timeline 1. */
    private Path segmentFile(long n) throws Exception {
        String name = new WalSegment(1, n, DatabaseHistory.SEGMENT_SIZE).name();
        try (var files = Files.walk(tmp.resolve("repo/db/shop/chains"))) {
            return files.filter(p -> p.getFileName().toString().equals(name)).findFirst().orElseThrow();
        }
    }

    @Test
    void anIntactRepositoryPasses() throws Exception {
        assertThatThrownBy(() -> engine.verifyProgress("shop")).hasMessageContaining("no verification of shop is running");
        long began = System.nanoTime();
        java.util.concurrent.CompletableFuture<VerifyReport> running = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return engine.verify("shop");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        // while it reads, its progress is visible (what the API and the CLI's bar show): never past 99%, never going back
        java.util.List<dev.tidemark.engine.operations.Progress> seen = new java.util.ArrayList<>();
        while (!running.isDone()) {
            try {
                seen.add(engine.verifyProgress("shop"));
            } catch (dev.tidemark.engine.operations.NotFoundException notYetOrDone) {
                // before the verification registered, or after it ended
            }
            Thread.sleep(5);
        }
        VerifyReport report = running.get();
        double seconds = (System.nanoTime() - began) / 1e9;
        assertThat(seen).isNotEmpty().allSatisfy(p -> assertThat(p.percent()).isBetween(0, 99));
        assertThat(seen).extracting(dev.tidemark.engine.operations.Progress::bytesDone).isSorted();
        assertThat(seen).anySatisfy(p -> assertThat(p.filesTotal()).isPositive().isLessThanOrEqualTo(report.objects()));
        assertThatThrownBy(() -> engine.verifyProgress("shop")).hasMessageContaining("no verification of shop is running");
        assertThat(report.problems()).isEmpty();
        assertThat(report.baseBackups()).isEqualTo(2);
        assertThat(report.walSegments()).isGreaterThanOrEqualTo(6);
        System.out.printf("verify: %d objects, %.1f MiB in %.2f s: %.1f MiB/s%n", report.objects(), report.bytesRead() / 1048576.0,
                seconds, report.bytesRead() / 1048576.0 / seconds);
    }

    @Test
    void aFlippedByteInAWalSegmentBetweenTheBackupsCostsTheTimeUntilTheSecond() throws Exception {
        Path file = segmentFile(startSegment(first) + 1);
        byte[] original = Files.readAllBytes(file);
        try {
            TestRepositories.flipByte(tmp.resolve("repo"), tmp.resolve("repo").relativize(file).toString(), original.length / 2);
            VerifyReport report = engine.verify("shop");
            assertThat(report.problems()).singleElement().satisfies(p -> {
                assertThat(p.kind()).isEqualTo(Kind.WAL_DAMAGED);
                assertThat(p.object()).isEqualTo("WAL segment " + file.getFileName());
                assertThat(p.cost()).contains("are lost").contains("base backup " + second.id() + " serves them")
                        .contains(WindowCost.format(second.consistencyTime()));
            });
        } finally {
            Files.write(file, original);
        }
    }

    @Test
    void aSegmentMissingAfterTheNewestBackupCostsTheRestOfTheWindow() throws Exception {
        Path file = segmentFile(startSegment(second) + 1);
        Path aside = tmp.resolve("aside");
        Files.move(file, aside);
        try {
            VerifyReport report = engine.verify("shop");
            assertThat(report.problems()).singleElement().satisfies(p -> {
                assertThat(p.kind()).isEqualTo(Kind.WAL_MISSING);
                assertThat(p.object()).isEqualTo("WAL segment " + file.getFileName());
                assertThat(p.cost()).matches("restores after \\S+Z are lost \\(the window ended \\S+Z\\); take a new base backup.*");
            });
        } finally {
            Files.move(aside, file);
        }
    }

    @Test
    void aMissingManifestLeavesOnlyTheOtherBackup() throws Exception {
        Path manifest = tmp.resolve("repo/db/shop/base/" + first.id() + "/manifest");
        Path aside = tmp.resolve("manifest-aside");
        Files.move(manifest, aside);
        try {
            VerifyReport report = engine.verify("shop");
            assertThat(report.problems()).singleElement().satisfies(p -> {
                assertThat(p.kind()).isEqualTo(Kind.BASE_BACKUP_MISSING);
                assertThat(p.object()).isEqualTo("base backup " + first.id());
                assertThat(p.cost()).isEqualTo("restores before " + WindowCost.format(second.consistencyTime())
                        + " are lost (the window started " + WindowCost.format(engine.recoveryWindow("shop").start())
                        + "): restorable only from base backup " + second.id());
            });
        } finally {
            Files.move(aside, manifest);
        }
    }
}
