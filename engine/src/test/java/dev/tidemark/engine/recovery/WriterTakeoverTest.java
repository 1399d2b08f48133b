package dev.tidemark.engine.recovery;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogSettings;
import dev.tidemark.engine.config.RepositoryFactory;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.testing.LostEngine;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The engine's host lost, as the runbook tells it, with the old host coming back: a new engine on an empty catalog waits
 * until the killed engine's writer record has been quiet, recovers the catalog and streams on; the old host's engine,
 * started again with its catalog, is refused with nothing written; so is a third engine beside the live one; and once
 * the new engine stops cleanly, a catalog recovered while it ran takes over without waiting and first imports what was
 * recorded after its recovery; taken over in turn while it runs, that engine stops writing for good.
 */
class WriterTakeoverTest {
    private static final String QUIET = "tidemark.writer-quiet-seconds";

    /** The base backups a stopped engine's catalog holds. */
    private static List<String> backupIds(Path data) {
        try (Catalog c = Catalog.open(new CatalogSettings(data.resolve("catalog"), null, null, null, null, null, Clock.systemUTC()))) {
            return c.view().database("shop").orElseThrow().baseBackups().stream().map(b -> b.id()).toList();
        }
    }

    private static java.util.Set<String> keys(Repository repository) throws java.io.IOException {
        try (var objects = repository.store().list(repository.layout().databasesPrefix())) {
            return objects.map(o -> o.key()).collect(java.util.stream.Collectors.toSet());
        }
    }

    @Test
    void anOldHostComingBackIsRefusedAndSoIsASecondEngineBesideALiveOne() throws Exception {
        String before = System.getProperty(QUIET);
        System.setProperty(QUIET, "3");
        try (LostEngine lost = new LostEngine("tidemark-takeover-"); Repository repository = RepositoryFactory.open(lost.config("data-x"))) {
            Engine old = Engine.start(lost.config("data-a"));
            try {
                old.register(new RegisterDatabase("shop", lost.cluster.url(), lost.cluster.dataDirectory().toString(), null, null), "alice");
                BackupView backup = old.requestBaseBackup("shop", "alice");
                assertThat(await(() -> old.baseBackup("shop", backup.id()), b -> !b.status().matches("requested|running"),
                        Duration.ofMinutes(2)).status()).isEqualTo("completed");
                lost.cluster.execute("create table orders(id int)", "insert into orders values (1)");
                Instant written = lost.cluster.serverNow();
                await(() -> old.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(written), Duration.ofSeconds(30));
            } finally {
                old.crashForTest(); // its host lost: the writer record still says running
            }
            String oldCatalog = WriterFence.read(repository).orElseThrow().catalog();

            long started = System.nanoTime();
            String newCatalog;
            try (Engine fresh = Engine.start(lost.config("data-b"))) {
                assertThat(Duration.ofNanos(System.nanoTime() - started)).as("the old writer watched until quiet")
                        .isGreaterThanOrEqualTo(Duration.ofSeconds(3));
                assertThat(fresh.databases()).extracting(DatabaseView::id).containsExactly("shop");
                newCatalog = WriterFence.read(repository).orElseThrow().catalog();
                assertThat(newCatalog).isNotEqualTo(oldCatalog);
                lost.cluster.execute("insert into orders values (2)");
                Instant afterTakeover = lost.cluster.serverNow();
                await(() -> fresh.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(afterTakeover), Duration.ofSeconds(60));

                // the old host back while the new engine runs: refused at once, its catalog older than the repository's
                assertThatThrownBy(() -> Engine.start(lost.config("data-a")))
                        .hasMessageContaining("was taken over by another catalog's engines (node node-1 of catalog " + newCatalog)
                        .hasMessageContaining("Nothing was written to the repository").hasMessageContaining("with an empty catalog");
                // a second new host beside the live engine: refused once the record changed while it watched
                assertThatThrownBy(() -> Engine.start(lost.config("data-c")))
                        .hasMessageContaining("another Tidemark engine writes repository").hasMessageContaining("right now");
                assertThat(WriterFence.read(repository).orElseThrow().catalog()).isEqualTo(newCatalog);
                assertThat(fresh.recoveryWindow("shop").end()).isNotNull();

                // a catalog recovered (tidemark catalog recover) while the engine runs, which then records more
                assertThat(Engine.recoverCatalog(lost.config("data-n")).databases()).extracting(d -> d.id()).containsExactly("shop");
                BackupView second = fresh.requestBaseBackup("shop", "alice");
                assertThat(await(() -> fresh.baseBackup("shop", second.id()), b -> !b.status().matches("requested|running"),
                        Duration.ofMinutes(2)).status()).isEqualTo("completed");
            }
            assertThat(WriterFence.read(repository).orElseThrow().stopped()).as("a clean stop says so").isTrue();

            List<String> backups = backupIds(lost.tmp.resolve("data-b"));
            assertThat(backups).hasSize(2);

            // stopped cleanly: the old catalog is still refused; the catalog recovered while it ran takes over without
            // waiting for a quiet time, and first brings itself up to date (the backup recorded after its recovery)
            assertThatThrownBy(() -> Engine.start(lost.config("data-a"))).hasMessageContaining("was taken over");
            System.setProperty(QUIET, "60");
            long third0 = System.nanoTime();
            try (Engine third = Engine.start(lost.config("data-n"))) {
                assertThat(Duration.ofNanos(System.nanoTime() - third0)).as("no quiet time watched").isLessThan(Duration.ofSeconds(30));
                assertThat(third.databases()).extracting(DatabaseView::id).containsExactly("shop");
                assertThat(third.baseBackups("shop")).extracting(BackupView::id).containsExactlyInAnyOrderElementsOf(backups);
                assertThat(third.events("shop", 0, 1000).events()).filteredOn(e -> e.type().equals("DatabaseRegistered")).hasSize(1);
                assertThat(WriterFence.read(repository).orElseThrow().catalog()).isNotIn(oldCatalog, newCatalog);
                assertThat(third.takenOver()).isEmpty();

                // taken over while it runs (as by another catalog's engine after this one was frozen past its quiet time):
                // its next heartbeat finds the record and it stops writing for good, the record left as the taker wrote it
                WriterFence.write(repository, "taker", "node-9", false, Duration.ofSeconds(30));
                assertThat(await(third::takenOver, t -> t.isPresent(), Duration.ofSeconds(60)).orElseThrow())
                        .contains("was taken over by another catalog's engines (node node-9 of catalog taker");
                java.util.Set<String> objects = keys(repository);
                lost.cluster.execute("insert into orders select g from generate_series(3, 20000) g", "select pg_switch_wal()");
                Thread.sleep(3000);
                assertThat(keys(repository)).as("nothing written after the takeover").isEqualTo(objects);
                assertThat(WriterFence.read(repository).orElseThrow().catalog()).isEqualTo("taker");
                // and it records no request, saying why
                assertThatThrownBy(() -> third.requestBaseBackup("shop", "alice")).hasMessageContaining("was taken over")
                        .hasMessageContaining("records no request; stop it");
                assertThat(third.baseBackups("shop")).hasSize(2);
            }
            assertThat(WriterFence.read(repository).orElseThrow().stopped()).as("a taken-over engine's stop leaves the record").isFalse();
        } finally {
            if (before == null) {
                System.clearProperty(QUIET);
            } else {
                System.setProperty(QUIET, before);
            }
        }
    }
}
