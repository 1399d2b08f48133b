package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.testing.Eventually;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** What the catalog acknowledged survives kill -9: the embedded database writes at commit, and PostgreSQL as the shared catalog. */
class CatalogDurabilityTest {

    @Test
    void everyAcknowledgedCommandSurvivesAKill(@TempDir Path dir) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), "-Daxoniq.update-checker.disabled=true",
                "-Ddisable-axoniq-console-message=true", CatalogWriter.class.getName(), dir.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        long acknowledged = 0;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith("ack ")) {
                    acknowledged = Long.parseLong(line.substring(4));
                    if (acknowledged >= 150) {
                        child.destroyForcibly();
                        break;
                    }
                }
            }
        } finally {
            child.destroyForcibly();
            child.waitFor(30, TimeUnit.SECONDS);
        }
        assertThat(acknowledged).as("the child recorded WAL before it was killed").isGreaterThanOrEqualTo(150);
        try (Catalog reopened = Catalog.open(new CatalogSettings(dir, null, null, null, null, null, Clock.systemUTC()))) {
            List<DatabaseHistory.WalRange> wal = reopened.view().database("kill").orElseThrow().wal();
            assertThat(wal).hasSize(1);
            assertThat(wal.get(0).last()).as("segments acknowledged before the kill").isGreaterThanOrEqualTo(acknowledged);
        }
    }

    @Test
    void aThreadInterruptedWhileItWritesDoesNotCloseTheEmbeddedCatalog(@TempDir Path dir) throws Exception {
        // a WAL stream stopped (interrupted) while it records its progress: the catalog must live on for everyone else
        try (Catalog catalog = Catalog.open(new CatalogSettings(dir, null, null, null, null, null, Clock.systemUTC()))) {
            for (int round = 0; round < 20; round++) {
                int r = round;
                Thread writer = new Thread(() -> {
                    for (int i = 0; i < 30; i++) { // on after the interrupt, as a stopping stream records what it finished
                        try {
                            catalog.send(new Commands.RegisterDatabase("irq-" + r + "-" + i, "postgresql://postgres@127.0.0.1:5432/postgres",
                                    "/irq/" + r + "/" + i, null, Policy.defaults(), Instant.now()), "alice");
                        } catch (RuntimeException e) {
                            // the interrupted command may fail; the catalog must not
                        }
                    }
                });
                writer.start();
                Thread.sleep(2 + round % 7);
                writer.interrupt();
                writer.join();
            }
            catalog.send(new Commands.RegisterDatabase("irq-after", "postgresql://postgres@127.0.0.1:5432/postgres", "/irq/after", null,
                    Policy.defaults(), Instant.now()), "alice");
            assertThat(catalog.view().database("irq-after")).isPresent();
        }
    }

    @Test
    void postgresqlServesAsTheSharedCatalog() throws Exception {
        try (PostgresCluster cluster = PostgresCluster.start()) {
            cluster.execute("create database catalog");
            CatalogSettings settings = new CatalogSettings(null, "jdbc:postgresql://127.0.0.1:" + cluster.port() + "/catalog", "postgres",
                    null, null, null, Clock.systemUTC());
            try (Catalog catalog = Catalog.open(settings)) {
                catalog.send(new dev.tidemark.engine.catalog.api.Commands.RegisterDatabase("pg", "postgresql://postgres@127.0.0.1:5432/postgres",
                        "/pg", null, dev.tidemark.engine.catalog.api.Policy.defaults(), java.time.Instant.now()), "alice");
                for (int i = 0; i < 250; i++) {
                    catalog.send(new dev.tidemark.engine.catalog.api.Commands.RequestDump("pg", "d" + i, List.of(), "manual",
                            java.time.Instant.now()), "alice");
                    catalog.send(new dev.tidemark.engine.catalog.api.Commands.FailDump("pg", "d" + i, "test", java.time.Instant.now()), "worker");
                }
                try {
                    catalog.send(new dev.tidemark.engine.catalog.api.Commands.RegisterDatabase("pg", "postgresql://x@h/db", "/pg", null,
                            dev.tidemark.engine.catalog.api.Policy.defaults(), java.time.Instant.now()), "alice");
                    throw new AssertionError("registering twice must be refused");
                } catch (CatalogRejection e) {
                    assertThat(e.kind()).isEqualTo(CatalogRejection.Kind.CONFLICT);
                }
            }
            try (Catalog reopened = Catalog.open(settings)) {
                DatabaseHistory h = reopened.view().database("pg").orElseThrow();
                assertThat(h.dumps()).hasSize(250).allMatch(d -> d.status() == JobStatus.FAILED);
                assertThat(reopened.events("pg", 0, 3).events().get(0).actor()).isEqualTo("alice");
                reopened.send(new dev.tidemark.engine.catalog.api.Commands.RequestDump("pg", "after-snapshot", List.of(), "manual",
                        java.time.Instant.now()), "alice");
                assertThat(reopened.view().database("pg").orElseThrow().dump("after-snapshot")).isPresent();
            }
        }
    }

    /**
     * Two nodes send commands to one database at once, some of them refused: each node's view ends equal to the
     * history read fresh from the store (no refused or raced command shows, no other node's event is missed).
     */
    @Test
    void twoNodesUnderConcurrentCommandsSeeTheStoredHistory() throws Exception {
        try (PostgresCluster cluster = PostgresCluster.start()) {
            cluster.execute("create database catalog");
            CatalogSettings settings = new CatalogSettings(null, "jdbc:postgresql://127.0.0.1:" + cluster.port() + "/catalog", "postgres",
                    null, null, null, Clock.systemUTC());
            try (Catalog a = Catalog.open(settings); Catalog b = Catalog.open(settings)) {
                a.send(new Commands.RegisterDatabase("pg", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null,
                        Policy.defaults(), Instant.now()), "alice");
                java.util.concurrent.atomic.AtomicInteger refused = new java.util.concurrent.atomic.AtomicInteger();
                java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
                List<java.util.concurrent.Future<?>> done = new java.util.ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    Catalog node = t % 2 == 0 ? a : b;
                    String prefix = "t" + t + "-";
                    done.add(pool.submit(() -> {
                        for (int i = 0; i < 40; i++) {
                            try {
                                node.send(new Commands.RequestDump("pg", prefix + i, List.of(), "manual", Instant.now()), "alice");
                                node.send(new Commands.FailDump("pg", prefix + i, "test", Instant.now()), "worker");
                            } catch (CatalogRejection e) {
                                refused.incrementAndGet(); // a dump already running, or a race lost three times
                            }
                            try {
                                node.send(new Commands.FailDump("pg", "never-asked", "test", Instant.now()), "worker");
                            } catch (CatalogRejection e) {
                                refused.incrementAndGet();
                            }
                        }
                        return null;
                    }));
                }
                for (var f : done) {
                    f.get(3, TimeUnit.MINUTES);
                }
                pool.shutdown();
                assertThat(refused.get()).as("the unknown dump is refused every time").isGreaterThanOrEqualTo(160);
                try (Catalog fresh = Catalog.open(settings)) {
                    DatabaseHistory stored = fresh.view().database("pg").orElseThrow();
                    for (Catalog node : List.of(a, b)) {
                        DatabaseHistory seen = Eventually.await(() -> node.view().database("pg").orElseThrow(),
                                h -> h.version() == stored.version(), java.time.Duration.ofSeconds(30));
                        assertThat(seen.dumps()).isEqualTo(stored.dumps());
                    }
                    assertThat(stored.dumps()).isNotEmpty().allMatch(d -> d.status() == JobStatus.FAILED);
                }
            }
        }
    }
}
