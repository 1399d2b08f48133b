package dev.tidemark.engine.recovery;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogSettings;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.RecoveryWindow;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.LostEngine;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TableChecksums;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The engine's host lost: base backup and WAL, the engine stopped, its data directory (embedded catalog) deleted; a new
 * engine on the same repository and key refuses to start empty, recovers the catalog exactly (events, backups, window),
 * streams on without a gap or a second registration, and restores a moment before the loss. On a file repository and on
 * S3 (the in-process server).
 */
class CatalogRecoveryTest {
    /** One moment at which both windows are computed. */
    private static final Instant NOW = Instant.now().plusSeconds(3600);
    private LostEngine lost;
    private Path tmp;
    private PostgresCluster cluster;

    private EngineConfig config(String data) {
        return lost.config(data);
    }

    private static CatalogSettings catalogAt(Path data) {
        return new CatalogSettings(data.resolve("catalog"), null, null, null, null, null, Clock.systemUTC());
    }

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"a file repository", "S3"})
    void aNewEngineOnTheRepositoryRecoversTheLostCatalogExactly(String repository) throws Exception {
        try (LostEngine scratch = new LostEngine("tidemark-recovery-", repository.equals("S3"))) {
            lost = scratch;
            tmp = scratch.tmp;
            cluster = scratch.cluster;
            recoversTheLostCatalogExactly();
        }
    }

    private void recoversTheLostCatalogExactly() throws Exception {
        Instant moment;
        Map<String, String> atMoment;
        try (Engine engine = Engine.start(config("data-1"))) {
            engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            BackupView backup = engine.requestBaseBackup("shop", "alice");
            BackupView done = await(() -> engine.baseBackup("shop", backup.id()), b -> !b.status().matches("requested|running"),
                    Duration.ofMinutes(2));
            assertThat(done.status()).as(done.failure()).isEqualTo("completed");
            cluster.execute("create table orders(id serial primary key, item text)", "insert into orders(item) values ('first'), ('second')");
            moment = cluster.serverNow();
            atMoment = TableChecksums.of(cluster);
            Thread.sleep(1100);
            cluster.execute("insert into orders(item) values ('after the moment')", "delete from orders where item = 'first'");
            await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(1)), Duration.ofSeconds(30));
        }
        // what the lost catalog held, read before it is lost
        Lost lost;
        try (Catalog old = Catalog.open(catalogAt(tmp.resolve("data-1")))) {
            lost = new Lost(old);
        }
        assertThat(lost.events).extracting(EventPage.Event::type).contains("DatabaseRegistered", "BaseBackupCompleted", "WalArchived");
        PostgresCluster.deleteTree(tmp.resolve("data-1"));

        // told not to recover: the start is refused, saying what the repository holds and how to recover
        assertThatThrownBy(() -> Engine.start(config("data-2").withRecoverOnStart(false)))
                .hasMessageContaining("the catalog is empty").hasMessageContaining("shop: 1 base backups")
                .hasMessageContaining("recover-on-start: true");

        // recovered explicitly (tidemark catalog recover): the same events, backups and window to the microsecond
        var report = Engine.recoverCatalog(config("data-2"));
        assertThat(report.databases()).as(report.toString()).allSatisfy(d -> assertThat(d.problems()).isEmpty()).hasSize(1);
        try (Catalog recovered = Catalog.open(catalogAt(tmp.resolve("data-2"))); var repository = engineRepository()) {
            Lost again = new Lost(recovered);
            assertThat(again.events).isEqualTo(lost.events);
            assertThat(again.history.baseBackups()).isEqualTo(lost.history.baseBackups());
            assertThat(again.window).isEqualTo(lost.window);
            // run again (as after a kill mid-way): nothing changes
            CatalogRecovery.Report second = CatalogRecovery.recover(recovered, repository, RepositoryContents.scan(repository));
            assertThat(second.databases()).allSatisfy(d -> assertThat(d.imported()).isZero());
        }

        // the recovered engine streams on from where the lost one stopped, and restores a moment before the loss
        try (Engine engine = Engine.start(config("data-2"))) {
            assertThat(engine.databases()).extracting(d -> d.id()).containsExactly("shop");
            assertThat(engine.baseBackups("shop")).extracting(BackupView::id).isEqualTo(lost.backupIds);
            cluster.execute("insert into orders(item) values ('after the recovery')");
            Instant afterRecovery = cluster.serverNow();
            await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(afterRecovery), Duration.ofSeconds(60));
            assertThat(engine.recoveryWindow("shop").start()).isEqualTo(lost.window.start());
            assertThat(engine.recoveryWindow("shop").excluded()).isEmpty();

            Path target = tmp.resolve("restored");
            int port = PostgresCluster.freePort();
            RestoreView requested = engine.requestRestore("shop", new RestoreRequest(moment.atOffset(ZoneOffset.UTC), false,
                    target.toString(), port, false), "bob");
            RestoreView restored = await(() -> engine.restore("shop", requested.id()), r -> !r.status().matches("requested|running"),
                    Duration.ofMinutes(3));
            assertThat(restored.status()).as(restored.failure()).isEqualTo("completed");
            PostgresCluster copy = PostgresCluster.attach(PgServer.factory(cluster.server().binaries(), ServerUser.detect()).at(target), port);
            try {
                assertThat(TableChecksums.of(copy)).isEqualTo(atMoment);
            } finally {
                copy.stopServer();
            }
            List<EventPage.Event> all = engine.events("shop", 0, 1000).events();
            assertThat(all.subList(0, lost.events.size())).isEqualTo(lost.events);
            assertThat(all).filteredOn(e -> e.type().equals("DatabaseRegistered")).hasSize(1);
        }

        // a third engine, recovering at start by default, from what the second one mirrored
        List<EventPage.Event> mirrored;
        try (Catalog second = Catalog.open(catalogAt(tmp.resolve("data-2")))) {
            mirrored = second.events("shop", 0, 1000).events();
        }
        try (Engine engine = Engine.start(config("data-3"))) {
            List<EventPage.Event> recovered = engine.events("shop", 0, 1000).events();
            assertThat(recovered.subList(0, mirrored.size())).isEqualTo(mirrored);
            assertThat(engine.restores("shop")).extracting(RestoreView::status).containsExactly("completed");
        }
    }

    private dev.tidemark.storage.Repository engineRepository() throws Exception {
        return dev.tidemark.engine.config.RepositoryFactory.open(config("data-x"));
    }

    /** What a catalog holds of "shop": every event, the history, the window it records. */
    private static final class Lost {
        final List<EventPage.Event> events;
        final DatabaseHistory history;
        final RecoveryWindow window;
        final List<String> backupIds = new ArrayList<>();

        Lost(Catalog catalog) {
            events = catalog.events("shop", 0, 1000).events();
            history = catalog.view().database("shop").orElseThrow();
            window = RecoveryWindow.of(history, NOW, null);
            history.baseBackups().forEach(b -> backupIds.add(b.id()));
        }
    }
}
