package dev.tidemark.engine;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.PolicyChange;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/** The scheduler over a simulated month (the engine's clock injected): daily dumps, weekly base backups, retention. */
class SchedulingTest {

    /** A clock the test moves. */
    static final class MovableClock extends Clock {
        private volatile Instant now;

        MovableClock(Instant start) {
            now = start;
        }

        void set(Instant instant) {
            now = instant;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @Test
    void aMonthOfScheduledDumpsKeepsWhatTheRetentionRulesSay() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-schedule-");
        ServerUser.detect().ownOne(tmp);
        MovableClock clock = new MovableClock(Instant.parse("2026-09-30T12:00:00Z"));
        EngineConfig config = config(tmp, false);
        try (PostgresCluster cluster = PostgresCluster.start(); Engine engine = Engine.start(config, clock)) {
            engine.register(new RegisterDatabase("app", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            engine.changePolicy("app", new PolicyChange(null, null, null, 3, 2, 1, 2, null), "alice");
            int manual = 0;
            for (LocalDate day = LocalDate.parse("2026-10-01"); !day.isAfter(LocalDate.parse("2026-10-31")); day = day.plusDays(1)) {
                for (int hour : new int[]{1, 4}) {
                    clock.set(day.atTime(hour, 30).toInstant(ZoneOffset.UTC));
                    engine.runScheduledJobs();
                    awaitIdle(engine);
                }
                if (day.getDayOfMonth() % 10 == 5) {
                    clock.set(day.atTime(12, 0).toInstant(ZoneOffset.UTC));
                    engine.requestDump("app", List.of(), "bob");
                    manual++;
                    awaitIdle(engine);
                }
            }
            clock.set(Instant.parse("2026-10-31T23:00:00Z"));
            engine.runScheduledJobs();
            awaitIdle(engine);

            List<DumpView> dumps = engine.dumps("app");
            assertThat(dumps).filteredOn(d -> "failed".equals(d.status())).isEmpty();
            Set<String> keptScheduled = dumps.stream().filter(d -> "completed".equals(d.status()) && "scheduled".equals(d.trigger()))
                    .map(d -> d.requestedAt().atZone(ZoneOffset.UTC).toLocalDate().toString()).collect(Collectors.toCollection(TreeSet::new));
            // daily 3: 29, 30, 31; Sundays of the last 2 weeks: 18 (13 days old), 25; first Sunday of this month: 4
            assertThat(keptScheduled).containsExactly("2026-10-04", "2026-10-18", "2026-10-25", "2026-10-29", "2026-10-30", "2026-10-31");
            assertThat(dumps.stream().filter(d -> "completed".equals(d.status()) && "manual".equals(d.trigger())).count())
                    .as("the last 2 of %d manual dumps", manual).isEqualTo(2);
            assertThat(dumps.stream().filter(d -> "expired".equals(d.status())).count()).isEqualTo(31 - 6 + manual - 2);
            assertThat(engine.baseBackups("app")).as("the first at once, then Sundays 4, 11, 18, 25 after 03:00").hasSize(5)
                    .allMatch(b -> "completed".equals(b.status()));
            try (var objects = Files.walk(tmp.resolve("repo").resolve("db/app/dump"))) {
                assertThat(objects.filter(p -> Files.isRegularFile(p) && p.getFileName().toString().equals("dump")).count()).as("expired dumps' objects are gone")
                        .isEqualTo(8);
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    @Test
    void aRunMissedWhileTheEngineWasDownHappensAtStartUp() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-missed-");
        ServerUser.detect().ownOne(tmp);
        MovableClock clock = new MovableClock(Instant.parse("2026-11-20T12:00:00Z"));
        EngineConfig off = config(tmp, false);
        EngineConfig on = config(tmp, true);
        try (PostgresCluster cluster = PostgresCluster.start()) {
            try (Engine engine = Engine.start(off, clock)) {
                engine.register(new RegisterDatabase("app", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
                engine.requestBaseBackup("app", "alice");
                awaitIdle(engine);
            }
            // down over Sunday 03:00 and the daily 01:00 dumps; the scheduler's first tick at start-up makes up for them
            clock.set(Instant.parse("2026-11-24T10:00:00Z"));
            try (Engine engine = Engine.start(on, clock)) {
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (System.nanoTime() < deadline && (engine.baseBackups("app").size() < 2 || engine.dumps("app").isEmpty())) {
                    Thread.sleep(200);
                }
                assertThat(engine.baseBackups("app")).hasSize(2).anyMatch(b -> "scheduled".equals(b.trigger()));
                assertThat(engine.dumps("app")).hasSize(1).allMatch(d -> "scheduled".equals(d.trigger()));
                awaitIdle(engine);
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    @Test
    void aFailedManualBaseBackupAfterTheWeeklySlotDoesNotStandInForIt() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-failed-manual-");
        ServerUser.detect().ownOne(tmp);
        MovableClock clock = new MovableClock(Instant.parse("2026-11-20T12:00:00Z"));
        EngineConfig config = config(tmp, false);
        try (PostgresCluster cluster = PostgresCluster.start(); Engine engine = Engine.start(config, clock)) {
            engine.register(new RegisterDatabase("app", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            engine.requestBaseBackup("app", "alice");
            awaitIdle(engine);
            // after Sunday's 03:00 slot, an operator's base backup fails (the server is down)
            clock.set(Instant.parse("2026-11-22T03:30:00Z"));
            cluster.stopServer();
            engine.requestBaseBackup("app", "bob");
            awaitIdle(engine);
            assertThat(engine.baseBackups("app")).filteredOn(b -> "failed".equals(b.status())).hasSize(1)
                    .allMatch(b -> "manual".equals(b.trigger()));
            cluster.startServer();
            clock.set(Instant.parse("2026-11-22T03:35:00Z"));
            engine.runScheduledJobs();
            awaitIdle(engine);
            assertThat(engine.baseBackups("app")).as("the week's base backup is taken all the same")
                    .anyMatch(b -> "scheduled".equals(b.trigger()) && "completed".equals(b.status()));
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    @Test
    void aScheduledBaseBackupCutShortByTheEnginesStopIsAskedAgainAtTheNextCheck() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-cut-scheduled-");
        ServerUser.detect().ownOne(tmp);
        MovableClock clock = new MovableClock(Instant.parse("2026-11-20T12:00:00Z"));
        EngineConfig config = config(tmp, false);
        try (PostgresCluster cluster = PostgresCluster.start()) {
            try (Engine engine = Engine.start(config, clock)) {
                engine.register(new RegisterDatabase("app", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
                engine.requestBaseBackup("app", "alice");
                awaitIdle(engine);
            }
            // Sunday's scheduled base backup was running when the engine was killed
            Instant slot = Instant.parse("2026-11-22T03:00:10Z");
            try (dev.tidemark.engine.catalog.Catalog catalog = dev.tidemark.engine.catalog.Catalog.open(
                    new dev.tidemark.engine.catalog.CatalogSettings(tmp.resolve("data/catalog"), null, null, null, null, null, clock))) {
                catalog.send(new dev.tidemark.engine.catalog.api.Commands.RequestBaseBackup("app", "base-cut", "scheduled", slot), "scheduler");
                catalog.send(new dev.tidemark.engine.catalog.api.Commands.StartBaseBackup("app", "base-cut", "node-1", false, slot), "worker");
            }
            clock.set(Instant.parse("2026-11-22T03:05:00Z"));
            try (Engine engine = Engine.start(config, clock)) {
                assertThat(engine.baseBackup("app", "base-cut").failure()).startsWith("interrupted");
                engine.runScheduledJobs();
                awaitIdle(engine);
                assertThat(engine.baseBackups("app")).as("the week's base backup is asked again at once")
                        .anyMatch(b -> "scheduled".equals(b.trigger()) && "completed".equals(b.status()));
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    @Test
    void aTablespaceCreatedAfterTheNewestBaseBackupBringsANewOne() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-tablespace-");
        ServerUser.detect().ownOne(tmp);
        EngineConfig config = config(tmp, false);
        try (PostgresCluster cluster = PostgresCluster.start(); Engine engine = Engine.start(config)) {
            engine.register(new RegisterDatabase("app", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            engine.requestBaseBackup("app", "alice");
            awaitIdle(engine);
            engine.runScheduledJobs();
            awaitIdle(engine);
            assertThat(engine.baseBackups("app")).as("nothing new: no tablespace, the weekly one not due").hasSize(1);
            Path space = Files.createDirectories(tmp.resolve("space"));
            ServerUser.detect().own(space);
            cluster.execute("create tablespace fast location '" + space + "'");
            engine.runScheduledJobs();
            awaitIdle(engine);
            assertThat(engine.baseBackups("app")).hasSize(2).anyMatch(b -> "tablespace".equals(b.trigger()) && "completed".equals(b.status()));
            engine.runScheduledJobs();
            awaitIdle(engine);
            assertThat(engine.baseBackups("app")).as("the new backup holds the tablespace: no third").hasSize(2);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> engine.requestRestore("app", new dev.tidemark.engine.operations.RestoreRequest(
                            null, true, space.resolve("copy").toString(), PostgresCluster.freePort(), false), "bob"))
                    .as("a copy inside a protected cluster's tablespace would be backed up with it")
                    .hasMessageContaining("overlaps " + space).hasMessageContaining("tablespace");
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static void awaitIdle(Engine engine) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            boolean busy = engine.dumps("app").stream().anyMatch(d -> d.status().matches("requested|running"))
                    || engine.baseBackups("app").stream().anyMatch(b -> b.status().matches("requested|running"));
            if (!busy) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("jobs still running after 60 s");
    }

    /** A single-host engine under tmp, its scheduler on or off (the tests run its checks themselves when off). */
    private static EngineConfig config(Path tmp, boolean scheduler) {
        EngineConfig base = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("data/master.key"));
        return new EngineConfig(base.dataDirectory(), null, null, null, base.repository(), base.masterKeyFile(), false,
                "zstd", 3, null, null, null, Map.of(), 2, Duration.ofMillis(500), scheduler, "node-1");
    }
}
