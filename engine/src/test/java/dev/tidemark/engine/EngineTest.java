package dev.tidemark.engine;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogSettings;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.config.RepositoryFactory;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.ConflictException;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.WindowView;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.restore.RestoreRunner;
import dev.tidemark.engine.testing.PostgresCluster;
import static dev.tidemark.engine.testing.Eventually.await;
import dev.tidemark.engine.testing.TableChecksums;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The engine as the API drives it: register, stream, back up, restore to a moment, dump, audit, restart. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EngineTest {
    private Path tmp;
    private PostgresCluster cluster;
    private Engine engine;

    @BeforeAll
    void start() throws Exception {
        tmp = Files.createTempDirectory("tidemark-engine-");
        ServerUser.detect().ownOne(tmp);
        cluster = PostgresCluster.start();
        engine = Engine.start(config());
    }

    private EngineConfig config() {
        EngineConfig c = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("data/master.key"));
        return new EngineConfig(c.dataDirectory(), null, null, null, c.repository(), c.masterKeyFile(), false, "zstd", 3, null,
                null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
    }

    @AfterAll
    void stop() {
        if (engine != null) {
            engine.close();
        }
        if (cluster != null) {
            cluster.close();
        }
        PostgresCluster.deleteTree(tmp);
    }

    @Test
    @Order(1)
    void registersBacksUpAndRestoresTheContentOfAMoment() throws Exception {
        DatabaseView registered = engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(), null,
                null), "alice");
        assertThat(registered.configuration()).as("the layout registration found").isEqualTo("configuration inside the data directory");
        assertThat(engine.database("shop").stats().serverVersion()).isNotBlank();
        BackupView backup = engine.requestBaseBackup("shop", "alice");
        assertThat(backup.status()).as("the dispatcher may have started it already").isIn("requested", "running");
        assertThatThrownBy(() -> engine.requestBaseBackup("shop", "alice")).isInstanceOf(ConflictException.class)
                .hasMessageContaining(backup.id());
        BackupView done = await(() -> engine.baseBackup("shop", backup.id()), b -> !b.status().matches("requested|running"),
                Duration.ofMinutes(2));
        assertThat(done.status()).as(done.failure()).isEqualTo("completed");
        assertThat(done.consistencyTime()).isNotNull();

        cluster.execute("create table orders(id serial primary key, item text)", "insert into orders(item) values ('first'), ('second')");
        Instant moment = serverNow();
        Map<String, String> atMoment = checksums(cluster);
        Thread.sleep(1100);
        cluster.execute("insert into orders(item) values ('after the moment')", "delete from orders where item = 'first'");
        await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(1)), Duration.ofSeconds(30));

        Path target = tmp.resolve("restored");
        int port = PostgresCluster.freePort();
        RestoreView requested = engine.requestRestore("shop", new RestoreRequest(moment.atOffset(ZoneOffset.ofHours(2)), false,
                target.toString(), port, false), "bob");
        RestoreView restored = await(() -> engine.restore("shop", requested.id()), r -> !r.status().matches("requested|running"),
                Duration.ofMinutes(3));
        assertThat(restored.status()).as(restored.failure()).isEqualTo("completed");
        PostgresCluster copy = PostgresCluster.attach(PgServer.factory(cluster.server().binaries(), ServerUser.detect()).at(target), port);
        try {
            assertThat(checksums(copy)).isEqualTo(atMoment);
        } finally {
            copy.stopServer();
        }

        EventPage events = engine.events("shop", 0, 100);
        assertThat(events.events()).anySatisfy(e -> {
            assertThat(e.type()).isEqualTo("DatabaseRegistered");
            assertThat(e.actor()).isEqualTo("alice");
        });
        assertThat(events.events()).anySatisfy(e -> {
            assertThat(e.type()).isEqualTo("RestoreRequested");
            assertThat(e.actor()).isEqualTo("bob");
        });
        assertThat(events.events()).extracting(EventPage.Event::type).contains("BaseBackupCompleted", "WalArchived", "RestoreCompleted");

        // a restore cancelled right after it was asked for: it fails as cancelled, and nothing of it is left
        Path cancelledTarget = tmp.resolve("cancelled");
        RestoreView toCancel = engine.requestRestore("shop", new RestoreRequest(null, true, cancelledTarget.toString(),
                PostgresCluster.freePort(), false), "bob");
        assertThat(engine.cancelRestore("shop", toCancel.id(), "carol").id()).isEqualTo(toCancel.id());
        RestoreView cancelled = await(() -> engine.restore("shop", toCancel.id()), r -> !r.status().matches("requested|running"),
                Duration.ofMinutes(3));
        assertThat(cancelled.status()).isEqualTo("failed");
        assertThat(cancelled.failure()).startsWith("cancelled by carol").contains("nothing of the copy was kept");
        assertThat(cancelledTarget).doesNotExist();
        assertThat(RestoreRunner.spoolOf(cancelledTarget)).doesNotExist();
        assertThatThrownBy(() -> engine.cancelRestore("shop", toCancel.id(), "carol")).isInstanceOf(ConflictException.class)
                .hasMessageContaining("is failed: there is nothing to cancel");
        assertThatThrownBy(() -> engine.cancelRestore("shop", "restore-nope", "carol")).isInstanceOf(NotFoundException.class);
    }

    @Test
    @Order(2)
    void badRequestsAreRefusedWithAReasonAndChangeNothing() throws Exception {
        long before = requestEvents();
        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(Instant.parse("2020-01-01T00:00:00Z")
                .atOffset(ZoneOffset.UTC), false, tmp.resolve("never").toString(), PostgresCluster.freePort(), false), "bob"))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("outside the recovery window [");
        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(null, true, "relative/dir", 5999, false), "bob"))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("absolute");
        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(null, true, null, null, true), "bob"))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("running");
        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(null, true,
                cluster.dataDirectory().resolve("inside").toString(), PostgresCluster.freePort(), false), "bob"))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("overlaps");
        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(null, true, "/", PostgresCluster.freePort(), false), "bob"))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("overlaps");
        // through a link: the same directories, reached by another name
        java.nio.file.Path sneaky = Files.createSymbolicLink(tmp.resolve("sneaky"), cluster.dataDirectory());
        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(null, true, sneaky.resolve("inside").toString(),
                PostgresCluster.freePort(), false), "bob")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("overlaps");
        java.nio.file.Path engineData = Files.createSymbolicLink(tmp.resolve("sneaky-engine"), tmp.resolve("data"));
        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(null, true, engineData.resolve("r").toString(),
                PostgresCluster.freePort(), false), "bob")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("overlaps");
        assertThatThrownBy(() -> engine.register(new RegisterDatabase("Bad Id", cluster.url(), "/x", null, null), "alice"))
                .isInstanceOf(InvalidRequestException.class);
        assertThatThrownBy(() -> engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(),
                null, null), "alice")).isInstanceOf(ConflictException.class).hasMessageContaining("registered already");
        assertThatThrownBy(() -> engine.register(new RegisterDatabase("nowhere", "postgresql://postgres@127.0.0.1:1/postgres",
                "/tmp", null, null), "alice")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("cannot connect");
        assertThatThrownBy(() -> engine.register(new RegisterDatabase("pw", "postgresql://postgres:secret@127.0.0.1:1/postgres",
                "/tmp", null, null), "alice")).isInstanceOf(InvalidRequestException.class).hasMessageNotContaining("secret");
        try (PostgresCluster small = PostgresCluster.start(List.of("--wal-segsize=1"), false)) {
            assertThatThrownBy(() -> engine.register(new RegisterDatabase("small", small.url(), small.dataDirectory().toString(),
                    null, null), "alice")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("16 MiB segments only");
            // the data directory of another cluster on the host: backups of it would complete and never restore
            assertThatThrownBy(() -> engine.register(new RegisterDatabase("mixed", cluster.url(), small.dataDirectory().toString(),
                    null, null), "alice")).isInstanceOf(InvalidRequestException.class)
                    .hasMessageContaining("pgdata does not belong to the primary").hasMessageContaining("database system");
            // a "standby" that is the primary itself
            assertThatThrownBy(() -> engine.register(new RegisterDatabase("twice", cluster.url(), cluster.dataDirectory().toString(),
                    cluster.url(), null), "alice")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("is not in recovery");
            // a stopped copy of the cluster (same system): not the live directory
            small.stopServer();
            java.nio.file.Path copy = small.root().resolve("copy");
            Process cp = new ProcessBuilder("cp", "-a", cluster.dataDirectory().toString(), copy.toString()).start();
            assertThat(cp.waitFor()).isZero();
            // with its postmaster.pid (a copy of a running cluster, a snapshot): the server shows it is not its own
            assertThatThrownBy(() -> engine.register(new RegisterDatabase("copy", cluster.url(), copy.toString(), null, null), "alice"))
                    .isInstanceOf(InvalidRequestException.class).hasMessageContaining("is not the server's live data directory");
            Files.deleteIfExists(copy.resolve("postmaster.pid"));
            assertThatThrownBy(() -> engine.register(new RegisterDatabase("copy", cluster.url(), copy.toString(), null, null), "alice"))
                    .isInstanceOf(InvalidRequestException.class).hasMessageContaining("no running server");
        }
        // a retention count of 0 would expire every such dump at once, and each new one as it completes
        assertThatThrownBy(() -> engine.changePolicy("shop", new dev.tidemark.engine.operations.PolicyChange(null, null, null, null, null,
                null, 0, null), "alice")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("manualDumps (--manual-dumps) = 0");
        assertThatThrownBy(() -> engine.changePolicy("shop", new dev.tidemark.engine.operations.PolicyChange(null, null, null, 1001, null,
                null, null, null), "alice")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("between 1 and 1000");
        // a role that may stream but not take base backups or dumps: its window would never open
        cluster.execute("create role streamer login replication");
        String limited = "postgresql://streamer@127.0.0.1:" + cluster.port() + "/postgres";
        assertThatThrownBy(() -> engine.register(new RegisterDatabase("limited", limited, cluster.dataDirectory().toString(), null, null),
                "alice")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("may not take base backups and dumps")
                .hasMessageContaining("GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO streamer;")
                .hasMessageContaining("GRANT pg_read_all_data TO streamer;");
        cluster.execute("grant execute on function pg_backup_start(text, boolean) to streamer");
        cluster.execute("grant execute on function pg_backup_stop(boolean) to streamer");
        assertThatThrownBy(() -> engine.register(new RegisterDatabase("limited", limited, cluster.dataDirectory().toString(), null, null),
                "alice")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("GRANT pg_read_all_data TO streamer;")
                .hasMessageNotContaining("pg_backup_start");
        cluster.execute("grant pg_read_all_data to streamer");
        // with what docs/operations.md grants, the role passes (and the directory's conflict is what is left)
        assertThatThrownBy(() -> engine.register(new RegisterDatabase("limited", limited, cluster.dataDirectory().toString(), null, null),
                "alice")).isInstanceOf(ConflictException.class).hasMessageContaining("protected already");
        // something that is not PostgreSQL: said so, not an SSL error
        try (java.net.ServerSocket notPostgres = new java.net.ServerSocket(0, 5, java.net.InetAddress.getLoopbackAddress())) {
            Thread answer = Thread.ofVirtual().start(() -> {
                try (java.net.Socket s = notPostgres.accept()) {
                    s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                } catch (java.io.IOException e) {
                    // the test fails on the message below
                }
            });
            assertThatThrownBy(() -> engine.register(new RegisterDatabase("http", "postgresql://postgres@127.0.0.1:"
                    + notPostgres.getLocalPort() + "/postgres", "/tmp", null, null), "alice"))
                    .isInstanceOf(InvalidRequestException.class).hasMessageContaining("not a PostgreSQL server");
            answer.join(5000);
        }
        assertThatThrownBy(() -> engine.database("missing")).isInstanceOf(NotFoundException.class);
        assertThatThrownBy(() -> engine.requestBaseBackup("missing", "alice")).isInstanceOf(NotFoundException.class);
        assertThat(requestEvents()).as("events other than the stream's own").isEqualTo(before);
        assertThat(engine.databases()).extracting(d -> d.id()).containsExactly("shop");
    }

    @Test
    @Order(3)
    void dumpsAndDownloadsTheArchive() throws Exception {
        DumpView dump = engine.requestDump("shop", List.of("postgres"), "carol");
        DumpView done = await(() -> engine.dump("shop", dump.id()), d -> !d.status().matches("requested|running"), Duration.ofMinutes(1));
        assertThat(done.status()).as(done.failure()).isEqualTo("completed");
        var download = engine.downloadDump("shop", dump.id(), Optional.empty());
        byte[] whole;
        try (InputStream in = download.opener().open(0)) {
            whole = in.readAllBytes();
        }
        assertThat(whole).hasSize((int) download.size());
        assertThat(new String(whole, 0, 5)).isEqualTo("PGDMP");
        try (InputStream in = download.opener().open(100)) {
            assertThat(in.readAllBytes()).isEqualTo(java.util.Arrays.copyOfRange(whole, 100, whole.length));
        }
    }

    @Test
    @Order(4)
    void aBackupRunningWhenTheEngineStoppedIsFailedAtRestartAndItsObjectsRemoved() throws Exception {
        engine.close();
        engine = null;
        String key;
        // the PostgreSQL an interrupted restore had started on its target, still running: stopped at the restart
        PostgresCluster orphan = PostgresCluster.start();
        Files.writeString(orphan.dataDirectory().resolve("postgresql.auto.conf"),
                "\n# Written by Tidemark restore restore-killed of backup b at 2026-12-01T00:00:00Z\n", java.nio.file.StandardOpenOption.APPEND);
        try (Catalog catalog = Catalog.open(new CatalogSettings(tmp.resolve("data/catalog"), null, null, null, null, null,
                Clock.systemUTC()))) {
            catalog.send(new Commands.RequestBaseBackup("shop", "base-killed", "manual", Instant.now()), "alice");
            catalog.send(new Commands.StartBaseBackup("shop", "base-killed", "node-1", false, Instant.now()), "worker");
            catalog.send(new Commands.RequestRestore("shop", "restore-killed", "pitr", null, true, orphan.dataDirectory().toString(),
                    5999, false, null, null, null, null, Instant.now()), "alice");
            catalog.send(new Commands.StartRestore("shop", "restore-killed", Instant.now()), "worker");
        }
        // another master key (or none) than the repository's: refused before anything is written under it
        java.nio.file.Path otherKey = tmp.resolve("other.key");
        dev.tidemark.storage.codec.MasterKey.generate().writeTo(otherKey);
        EngineConfig c = config();
        EngineConfig wrongKey = new EngineConfig(c.dataDirectory(), null, null, null, c.repository(), otherKey, false, "zstd", 3, null,
                null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
        assertThatThrownBy(() -> RepositoryFactory.open(wrongKey)).hasMessageContaining("is not the key of repository")
                .hasMessageContaining("was encrypted with master key");
        EngineConfig noKey = new EngineConfig(c.dataDirectory(), null, null, null, c.repository(), null, true, "zstd", 3, null,
                null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
        assertThatThrownBy(() -> RepositoryFactory.open(noKey)).hasMessageContaining("is not the key of repository");
        var repository = RepositoryFactory.open(config());
        key = repository.layout().baseBackupBundle("shop", "base-killed", 0);
        repository.putEncoded(key, new ByteArrayInputStream(new byte[1000]));
        repository.close();

        engine = Engine.start(config());
        BackupView killed = engine.baseBackup("shop", "base-killed");
        assertThat(killed.status()).isEqualTo("failed");
        assertThat(killed.failure()).startsWith("interrupted");
        assertThat(Files.exists(tmp.resolve("repo").resolve(key))).isFalse();
        RestoreView killedRestore = engine.restore("shop", "restore-killed");
        assertThat(killedRestore.status()).isEqualTo("failed");
        assertThat(killedRestore.failure()).startsWith("interrupted").contains(orphan.dataDirectory().toString())
                .contains("the PostgreSQL the restore had started on it was stopped");
        assertThat(orphan.server().isRunning()).as("the restore's PostgreSQL is stopped").isFalse();
        orphan.close();
        assertThat(cluster.server().isRunning()).as("the source database was not touched").isTrue();
        WindowView window = engine.recoveryWindow("shop");
        assertThat(window.start()).as("the completed backup still serves the window: %s; events %s", window,
                engine.events("shop", 0, 1000).events().stream().filter(e -> e.type().startsWith("Wal") || e.type().startsWith("BaseBackupC"))
                        .map(e -> e.payload().toString()).toList()).isNotNull();
    }

    @Test
    @Order(5)
    void restoresInPlaceOnlyWhenStoppedMovesTheOldDirectoryAsideAndKeepsProtecting() throws Exception {
        cluster.execute("create table ledger(id serial primary key, entry text)", "insert into ledger(entry) values ('kept')");
        Instant moment = serverNow();
        Map<String, String> atMoment = checksums(cluster);
        Thread.sleep(1100);
        cluster.execute("insert into ledger(entry) values ('a mistake')", "drop table orders");
        await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(1)), Duration.ofSeconds(30));

        assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(moment.atOffset(ZoneOffset.UTC), false, null, null, true),
                "bob")).isInstanceOf(InvalidRequestException.class).hasMessageContaining("running");

        cluster.stopServer();
        // started by hand with settings on its command line (pg_ctl -o, kept in postmaster.opts): the restore starts it so again
        cluster.server().start(cluster.root().resolve("by-hand.log"), Duration.ofSeconds(60), List.of("work_mem=7777kB",
                "application_name=by-hand"));
        cluster.stopServer();
        RestoreView requested = engine.requestRestore("shop", new RestoreRequest(moment.atOffset(ZoneOffset.UTC), false, null, null, true),
                "bob");
        RestoreView restored = await(() -> engine.restore("shop", requested.id()), r -> !r.status().matches("requested|running"),
                Duration.ofMinutes(3));
        assertThat(restored.status()).as(restored.failure()).isEqualTo("completed");
        assertThat(checksums(cluster)).isEqualTo(atMoment);
        try (var c = cluster.connect(); var rs = c.createStatement().executeQuery("select current_setting('work_mem'),"
                + " (select source from pg_settings where name = 'work_mem')")) {
            rs.next();
            assertThat(rs.getString(1) + " from " + rs.getString(2)).as("the server's own command line, again")
                    .isEqualTo("7777kB from command line");
        }
        assertThat(Files.readString(cluster.dataDirectory().resolve("postmaster.opts"))).contains("work_mem=7777kB")
                .doesNotContain("recovery");
        try (var siblings = Files.list(cluster.dataDirectory().getParent())) {
            assertThat(siblings.map(p -> p.getFileName().toString())).anyMatch(n -> n.startsWith("data.tidemark-moved-"));
        }
        BackupView after = await(() -> engine.baseBackups("shop").get(0), b -> "after-restore".equals(b.trigger())
                && !b.status().matches("requested|running"), Duration.ofMinutes(2));
        assertThat(after.status()).as(after.failure()).isEqualTo("completed");
        assertThat(after.timeline()).isEqualTo(2);
        // the new timeline's WAL from its branch on is in the repository (the stream's slot kept it while the stream was
        // away): the history up to the target stays restorable, not only what followed the backup after the restore
        WindowView kept = engine.recoveryWindow("shop");
        assertThat(kept.start()).as("the window after the in-place restore: %s", kept).isNotNull().isBeforeOrEqualTo(moment);
        cluster.execute("insert into ledger(entry) values ('after the restore')");
        Instant later = serverNow();
        Map<String, String> atLater = checksums(cluster);
        Thread.sleep(1100);
        cluster.execute("insert into ledger(entry) values ('even later')");
        WindowView window = await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(later.plusSeconds(1)),
                Duration.ofSeconds(30));
        assertThat(window.end()).isAfter(later);
        assertThat(engine.database("shop").streaming().timeline()).isEqualTo(2);
        assertThat(engine.events("shop", 0, 1000).events()).extracting(EventPage.Event::type).contains("TimelineSwitched");

        Path target = tmp.resolve("second");
        int port = PostgresCluster.freePort();
        RestoreView second = engine.requestRestore("shop", new RestoreRequest(later.atOffset(ZoneOffset.UTC), false, target.toString(),
                port, false), "bob");
        RestoreView secondDone = await(() -> engine.restore("shop", second.id()), r -> !r.status().matches("requested|running"),
                Duration.ofMinutes(3));
        assertThat(secondDone.status()).as(secondDone.failure()).isEqualTo("completed");
        PostgresCluster copy = PostgresCluster.attach(PgServer.factory(cluster.server().binaries(), ServerUser.detect()).at(target), port);
        try {
            assertThat(checksums(copy)).as("a moment on the new timeline").isEqualTo(atLater);
        } finally {
            copy.stopServer();
        }
    }

    @Test
    @Order(6)
    void aBackupOfAnUnreachableServerFailsWithTheReasonAndLeavesNothing() throws Exception {
        cluster.stopServer();
        BackupView asked = engine.requestBaseBackup("shop", "alice");
        BackupView failed = await(() -> engine.baseBackup("shop", asked.id()), b -> !b.status().matches("requested|running"),
                Duration.ofMinutes(1));
        assertThat(failed.status()).isEqualTo("failed");
        assertThat(failed.failure()).containsIgnoringCase("connect");
        assertThat(tmp.resolve("repo/db/shop/base").resolve(asked.id())).doesNotExist();
        assertThat(engine.recoveryWindow("shop").start()).as("the completed backups still serve the window").isNotNull();
    }

    private long requestEvents() {
        return engine.events("shop", 0, 1000).events().stream().filter(e -> !e.type().equals("WalArchived")).count();
    }

    private static Map<String, String> checksums(PostgresCluster c) throws Exception {
        try (Connection connection = c.connect()) {
            return TableChecksums.of(connection);
        }
    }

    private Instant serverNow() throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery("select clock_timestamp()")) {
            r.next();
            return r.getTimestamp(1).toInstant();
        }
    }
}
