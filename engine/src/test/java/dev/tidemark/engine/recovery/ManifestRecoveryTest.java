package dev.tidemark.engine.recovery;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.WindowView;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.LostEngine;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.config.RepositoryFactory;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The engine's data directory lost and the repository's event objects removed too: a new engine rebuilds the catalog from
 * the manifests and WAL objects alone, says what it could not recover, and a restore inside the window still works. On a
 * file repository and on S3 (the in-process server).
 */
class ManifestRecoveryTest {
    private LostEngine lost;
    private Path tmp;
    private PostgresCluster cluster;

    private EngineConfig config(String data) {
        return lost.config(data);
    }

    @ParameterizedTest(name = "on {0}")
    @ValueSource(strings = {"a file repository", "S3"})
    void withoutTheEventObjectsTheManifestsAndWalRebuildARestorableCatalog(String repository) throws Exception {
        try (LostEngine scratch = new LostEngine("tidemark-manifest-recovery-", repository.equals("S3"))) {
            lost = scratch;
            tmp = scratch.tmp;
            cluster = scratch.cluster;
            rebuildsARestorableCatalog();
        }
    }

    private void rebuildsARestorableCatalog() throws Exception {
        Instant moment;
        Map<String, String> atMoment;
        List<String> backups;
        WindowView lostWindow;
        try (Engine engine = Engine.start(config("data-1"))) {
            engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            BackupView backup = engine.requestBaseBackup("shop", "alice");
            BackupView done = await(() -> engine.baseBackup("shop", backup.id()), b -> !b.status().matches("requested|running"),
                    Duration.ofMinutes(2));
            assertThat(done.status()).as(done.failure()).isEqualTo("completed");
            cluster.execute("create table orders(id serial primary key, item text)", "insert into orders(item) values ('first')");
            moment = cluster.serverNow();
            atMoment = TableChecksums.of(cluster);
            Thread.sleep(3500); // the rebuilt window ends at the newest WAL upload less a margin of 2 s
            cluster.execute("insert into orders(item) values ('after the moment')");
            // an idle stream uploads nothing new: the switch completes the segment, uploaded now, after the moment
            cluster.execute("select pg_switch_wal()");
            dev.tidemark.engine.postgres.Lsn switched;
            try (var c = cluster.connect(); var st = c.createStatement(); var rs = st.executeQuery("select pg_current_wal_lsn()::text")) {
                rs.next();
                switched = dev.tidemark.engine.postgres.Lsn.parse(rs.getString(1));
            }
            await(() -> engine.database("shop").streaming().durableLsn(),
                    lsn -> lsn != null && dev.tidemark.engine.postgres.Lsn.parse(lsn).compareTo(switched) >= 0, Duration.ofSeconds(30));
            await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(3)), Duration.ofSeconds(30));
            backups = engine.baseBackups("shop").stream().map(BackupView::id).toList();
            lostWindow = engine.recoveryWindow("shop");
        }
        PostgresCluster.deleteTree(tmp.resolve("data-1"));
        try (Repository repository = RepositoryFactory.open(config("data-x"));
             var events = repository.store().list(repository.layout().eventsPrefix("shop"))) {
            for (String key : events.map(o -> o.key()).toList()) {
                repository.store().delete(key);
            }
        }

        try (Engine engine = Engine.start(config("data-2"))) {
            assertThat(engine.databases()).extracting(d -> d.id()).containsExactly("shop");
            assertThat(engine.baseBackups("shop")).extracting(BackupView::id).isEqualTo(backups);
            assertThat(engine.baseBackups("shop")).extracting(BackupView::status).containsOnly("completed");
            WindowView window = engine.recoveryWindow("shop");
            assertThat(window.start()).isEqualTo(lostWindow.start());
            assertThat(window.end()).isAfter(moment);
            assertThat(engine.events("shop", 0, 100).events()).filteredOn(e -> !e.type().startsWith("Owner")) // the new node takes it over (its lease)
                    .allSatisfy(e -> assertThat(e.actor()).isEqualTo("recovery"));

            // the connection was only in the events: the operator gives it again
            engine.changeConnection("shop", new dev.tidemark.engine.operations.ConnectionChange(cluster.url(),
                    cluster.dataDirectory().toString(), null), "admin");
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
        }
    }
}
