package dev.tidemark.api.cli;

import dev.tidemark.api.Tidemark;
import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.testing.LostEngine;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * tidemark catalog recover --config FILE: the engine's data directory lost, a server configured not to recover at start;
 * the command, run on the same configuration as tidemark serve, recovers the catalog from the repository, says so, and
 * changes nothing when run again; an engine then starts with the database.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CatalogRecoverCommandTest {
    private LostEngine lost;
    private Path tmp;
    private PostgresCluster cluster;

    @BeforeAll
    void start() throws Exception {
        lost = new LostEngine("tidemark-catalog-recover-");
        tmp = lost.tmp;
        cluster = lost.cluster;
    }

    @AfterAll
    void stop() {
        if (lost != null) {
            lost.close();
        }
    }

    private record Run(int exit, String out) {
    }

    private static Run cli(String... args) {
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int exit = Tidemark.commandLine().execute(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(original);
        }
    }

    @Test
    void recoversTheLostCatalogOfflineAndAgainChangesNothing() throws Exception {
        EngineConfig first = EngineConfig.singleHost(tmp.resolve("data-1"), tmp.resolve("repo"), tmp.resolve("master.key"));
        String purgedBackup;
        try (Engine engine = Engine.start(first)) {
            engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            // a database deregistered with its backups purged: its history stays in the repository, so a catalog
            // recovered from it knows the database and that its backups are gone
            purgedBackup = engine.requestBaseBackup("shop", "alice").id();
            long doneBy = System.nanoTime() + java.time.Duration.ofMinutes(2).toNanos();
            while (System.nanoTime() < doneBy && engine.baseBackups("shop").stream().anyMatch(b -> b.status().matches("requested|running"))) {
                Thread.sleep(100);
            }
            assertThat(engine.baseBackups("shop")).extracting(dev.tidemark.engine.operations.BackupView::status).containsExactly("completed");
            engine.deregister("shop", true, "alice");
            Path base = tmp.resolve("repo").resolve("db/shop/base");
            long purgedBy = System.nanoTime() + java.time.Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < purgedBy && holdsFiles(base)) {
                Thread.sleep(100);
            }
            assertThat(holdsFiles(base)).as("the base backup's objects, purged").isFalse();
        }
        assertThat(tmp.resolve("repo").resolve("db/shop/events")).as("the purged database's history, kept").isDirectory();
        Path config = tmp.resolve("tidemark.yml");
        Files.writeString(config, "tidemark:\n"
                + "  data-directory: " + tmp.resolve("data-2") + "\n"
                + "  master-key-file: " + tmp.resolve("master.key") + "\n"
                + "  repository:\n    uri: " + tmp.resolve("repo").toUri() + "\n"
                + "  catalog:\n    recover-on-start: false\n");

        Run recovered = cli("catalog", "recover", "--config", config.toString());
        assertThat(recovered.exit()).as(recovered.out()).isZero();
        assertThat(recovered.out()).containsPattern("shop: (\\d+) events in the catalog, \\1 recovered now, whole");

        Run again = cli("catalog", "recover", "--config", config.toString());
        assertThat(again.exit()).as(again.out()).isZero();
        assertThat(again.out()).containsPattern("shop: \\d+ events in the catalog, 0 recovered now, whole");

        EngineConfig second = EngineConfig.singleHost(tmp.resolve("data-2"), tmp.resolve("repo"), tmp.resolve("master.key"))
                .withRecoverOnStart(false);
        try (Engine engine = Engine.start(second)) {
            assertThat(engine.databases()).extracting(DatabaseView::id).containsExactly("shop");
            assertThat(engine.events("shop", 0, 10).events()).first().satisfies(e -> assertThat(e.actor()).isEqualTo("alice"));
            assertThat(engine.databases()).first().extracting(DatabaseView::status).isEqualTo("deregistered");
            assertThat(engine.baseBackups("shop")).extracting(dev.tidemark.engine.operations.BackupView::id,
                    dev.tidemark.engine.operations.BackupView::status).containsExactly(org.assertj.core.groups.Tuple.tuple(purgedBackup, "purged"));
        }
    }

    private static boolean holdsFiles(Path dir) throws java.io.IOException {
        if (!Files.exists(dir)) {
            return false;
        }
        try (var files = Files.walk(dir)) {
            return files.anyMatch(Files::isRegularFile);
        } catch (java.io.UncheckedIOException e) {
            return true; // a file went while it was listed: still purging
        }
    }
}
