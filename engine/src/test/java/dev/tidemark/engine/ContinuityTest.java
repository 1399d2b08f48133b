package dev.tidemark.engine;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.WindowView;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The WAL continuity check: a recorded segment missing from the repository ends the window before it. */
class ContinuityTest {

    @Test
    void aMissingSegmentEndsTheWindowBeforeIt() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-continuity-");
        ServerUser.detect().ownOne(tmp);
        EngineConfig base = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("data/master.key"));
        EngineConfig config = new EngineConfig(base.dataDirectory(), null, null, null, base.repository(), base.masterKeyFile(), false,
                "zstd", 3, null, null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
        try (PostgresCluster cluster = PostgresCluster.start(); Engine engine = Engine.start(config)) {
            engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            BackupView backup = engine.requestBaseBackup("shop", "alice");
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (engine.baseBackup("shop", backup.id()).status().matches("requested|running") && System.nanoTime() < deadline) {
                Thread.sleep(200);
            }
            cluster.execute("create table t(x int)");
            String victim = null;
            Instant afterFirst = null;
            for (int i = 0; i < 3; i++) {
                cluster.execute("insert into t values (" + i + ")");
                String segment = switchWal(cluster);
                if (i == 1) {
                    victim = segment;
                }
                if (i == 0) {
                    afterFirst = serverNow(cluster);
                }
            }
            Instant end = serverNow(cluster);
            Instant firstMoment = afterFirst;
            waitFor(() -> engine.recoveryWindow("shop"), w -> w.end() != null && !w.end().isBefore(end));
            assertThat(engine.checkWal("shop")).as("nothing missing yet").isZero();

            String name = victim;
            try (Stream<Path> files = Files.walk(tmp.resolve("repo"))) {
                Path object = files.filter(p -> p.getFileName().toString().equals(name)).findFirst().orElseThrow();
                Files.delete(object);
            }
            assertThat(engine.checkWal("shop")).isEqualTo(1);
            WindowView window = engine.recoveryWindow("shop");
            assertThat(window.start()).as("the backup is still usable").isNotNull();
            assertThat(window.end()).as("the window ends before the missing segment").isBefore(firstMoment.plusSeconds(1));
            assertThat(engine.events("shop", 0, 200).events()).anySatisfy(e -> assertThat(e.type()).isEqualTo("WalMissing"));
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static String switchWal(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("select pg_walfile_name(pg_switch_wal())")) {
            r.next();
            return r.getString(1);
        }
    }

    private static Instant serverNow(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery("select clock_timestamp()")) {
            r.next();
            return r.getTimestamp(1).toInstant();
        }
    }

    private static <T> T waitFor(java.util.function.Supplier<T> probe, java.util.function.Predicate<T> done) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        T value = probe.get();
        while (!done.test(value) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            value = probe.get();
        }
        return value;
    }
}
