package dev.tidemark.engine;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.ConnectionChange;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import static dev.tidemark.engine.testing.Eventually.await;
import dev.tidemark.engine.testing.TableChecksums;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** With a standby registered, base backups and dumps are taken from it; a restore from such a backup is exact. */
class StandbyTest {

    @Test
    void backupsAndDumpsComeFromTheStandbyAndRestoreExactly() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-standby-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        EngineConfig base = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("data/master.key"));
        EngineConfig config = new EngineConfig(base.dataDirectory(), null, null, null, base.repository(), base.masterKeyFile(), false,
                "zstd", 3, null, null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
        try (PostgresCluster primary = PostgresCluster.start()) {
            primary.execute("create table stock(id serial primary key, item text)", "insert into stock(item) values ('on the primary')");
            Path standbyDir = tmp.resolve("standby");
            PgServer standby = PgServer.factory(primary.server().binaries(), user).at(standbyDir);
            // a second standby, promoted with the first: the same history, but left behind (a rogue copy)
            Path twinDir = tmp.resolve("twin");
            PgServer twin = PgServer.factory(primary.server().binaries(), user).at(twinDir);
            int standbyPort = startStandby(primary, standby, tmp);
            try (Engine engine = Engine.start(config)) {
                engine.register(new RegisterDatabase("shop", primary.url(), standbyDir.toString(),
                        "postgresql://postgres@127.0.0.1:" + standbyPort + "/postgres", null), "alice");
                // the same cluster again, through the primary's data directory: protected once
                assertThatThrownBy(() -> engine.register(new RegisterDatabase("shop2", primary.url(), primary.dataDirectory().toString(),
                        null, null), "alice")).hasMessageContaining("is protected already as database shop");
                // and under another name of the same host
                assertThatThrownBy(() -> engine.register(new RegisterDatabase("shop2", "postgresql://postgres@localhost:" + primary.port()
                        + "/postgres", primary.dataDirectory().toString(), null, null), "alice"))
                        .hasMessageContaining("is protected already as database shop");
                BackupView backup = engine.requestBaseBackup("shop", "alice");
                BackupView done = await(() -> engine.baseBackup("shop", backup.id()), b -> !b.status().matches("requested|running"),
                        Duration.ofMinutes(2));
                assertThat(done.status()).as(done.failure()).isEqualTo("completed");
                Map<String, String> atBackup;
                try (Connection c = primary.connect()) {
                    atBackup = TableChecksums.of(c);
                }
                assertThat(startedFromArchive(engine, done.id(), tmp.resolve("from-tar"), primary))
                        .as("the standby's backup downloaded as a tar archive and started as it is").isEqualTo(atBackup);
                DumpView dump = engine.requestDump("shop", List.of("postgres"), "alice");
                DumpView dumped = await(() -> engine.dump("shop", dump.id()), d -> !d.status().matches("requested|running"),
                        Duration.ofMinutes(2));
                assertThat(dumped.status()).as(dumped.failure()).isEqualTo("completed");
                List<EventPage.Event> events = engine.events("shop", 0, 100).events();
                assertThat(events).filteredOn(e -> e.type().equals("BaseBackupStarted") || e.type().equals("DumpStarted"))
                        .hasSize(2).allSatisfy(e -> assertThat(e.payload().get("fromStandby")).isEqualTo(true));
                assertThat(events).filteredOn(e -> e.type().equals("DumpCompleted") && dump.id().equals(e.payload().get("dumpId")))
                        .singleElement().satisfies(e -> assertThat(e.payload().get("fromStandby")).isEqualTo(true));

                // a standby whose replay is paused would give a dump without what the primary committed before it: the
                // dump reads the primary then
                try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + standbyPort + "/postgres?user=postgres");
                     Statement st = c.createStatement()) {
                    st.execute("select pg_wal_replay_pause()");
                    primary.execute("create table paused_marker as select 1 as x");
                    DumpView fresh = engine.requestDump("shop", List.of("postgres"), "alice");
                    DumpView freshDone = await(() -> engine.dump("shop", fresh.id()), d -> !d.status().matches("requested|running"),
                            Duration.ofMinutes(2));
                    assertThat(freshDone.status()).as(freshDone.failure()).isEqualTo("completed");
                    assertThat(engine.events("shop", 0, 200).events()).filteredOn(e -> e.type().equals("DumpStarted"))
                            .last().satisfies(e -> assertThat(e.payload().get("fromStandby")).isEqualTo(false));
                    st.execute("select pg_wal_replay_resume()");
                    // and it holds what the primary committed before it
                    primary.execute("create database paused_check");
                    RestoreView intoCheck = engine.restoreDump("shop", fresh.id(), "postgres", "paused_check", false, "alice");
                    RestoreView checked = await(() -> engine.restore("shop", intoCheck.id()), r -> !r.status().matches("requested|running"),
                            Duration.ofMinutes(2));
                    assertThat(checked.status()).as(checked.failure()).isEqualTo("completed");
                    try (Connection check = primary.connect("paused_check"); Statement cs = check.createStatement();
                         ResultSet rs = cs.executeQuery("select count(*) from paused_marker")) {
                        rs.next();
                        assertThat(rs.getInt(1)).isEqualTo(1);
                    }
                    primary.execute("drop database paused_check");
                }
                primary.execute("drop table paused_marker");

                // a standby that cancels the dump's reads to replay the primary's DDL (max_standby_streaming_delay = 0,
                // a common HA setting): the dump is taken again from the primary, and so holds the change
                primary.execute("create table bulk as select g, md5(g::text) || md5((g * 7)::text) as pad from generate_series(1, 1500000) g");
                Files.writeString(standbyDir.resolve("postgresql.auto.conf"), "max_standby_streaming_delay = 0\n",
                        java.nio.file.StandardOpenOption.APPEND);
                try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + standbyPort + "/postgres?user=postgres");
                     Statement st = c.createStatement()) {
                    st.execute("select pg_reload_conf()");
                    await(() -> holds(st, "select to_regclass('bulk') is not null"), replayed -> replayed, Duration.ofSeconds(30));
                    DumpView conflicted = engine.requestDump("shop", List.of("postgres"), "alice");
                    await(() -> holds(st, "select count(*) > 0 from pg_locks l join pg_stat_activity a using (pid)"
                            + " where a.application_name = 'tidemark-dump' and l.relation = 'bulk'::regclass"), locked -> locked, Duration.ofMinutes(1));
                    primary.execute("alter table bulk add column added_during_the_dump int");
                    DumpView retried = await(() -> engine.dump("shop", conflicted.id()), d -> !d.status().matches("requested|running"),
                            Duration.ofMinutes(2));
                    assertThat(retried.status()).as(retried.failure()).isEqualTo("completed");
                    assertThat(engine.events("shop", 0, 1000).events())
                            .filteredOn(e -> e.type().equals("DumpCompleted") && conflicted.id().equals(e.payload().get("dumpId")))
                            .singleElement().satisfies(e -> assertThat(e.payload().get("fromStandby"))
                                    .as("read from the primary in the end, though it started on the standby").isEqualTo(false));
                    Path archiveFile = tmp.resolve("conflicted.dump");
                    try (var archive = engine.downloadDump("shop", conflicted.id(), java.util.Optional.empty()).opener().open(0)) {
                        Files.copy(archive, archiveFile);
                    }
                    Process schema = new ProcessBuilder(primary.server().binaries().tool("pg_restore").toString(), "-s", "-f", "-",
                            archiveFile.toString()).redirectErrorStream(true).start();
                    assertThat(new String(schema.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8))
                            .as("the dump read the primary after the standby cancelled it").contains("added_during_the_dump");
                    Files.writeString(standbyDir.resolve("postgresql.auto.conf"), "max_standby_streaming_delay = 30s\n",
                            java.nio.file.StandardOpenOption.APPEND);
                    st.execute("select pg_reload_conf()");
                }
                primary.execute("drop table bulk");

                primary.execute("insert into stock(item) values ('after the backup')");
                Instant moment = serverNow(primary);
                Map<String, String> atMoment;
                try (Connection c = primary.connect()) {
                    atMoment = TableChecksums.of(c);
                }
                Thread.sleep(1100);
                primary.execute("delete from stock");
                await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(1)),
                        Duration.ofMinutes(2));
                assertThat(restoredContent(engine, moment, tmp.resolve("restored"), primary)).isEqualTo(atMoment);

                assertThatThrownBy(() -> engine.requestRestore("shop", new RestoreRequest(moment.atOffset(ZoneOffset.UTC), false, null,
                        null, true), "bob")).as("pgdata is the standby's").hasMessageContaining("standby's data directory");

                int twinPort = startStandby(primary, twin, tmp);

                // failover: the primary stops, its standby is promoted, and the database is pointed at it
                primary.execute("insert into stock(item) values ('before the failover')");
                primary.stopServer(); // a clean stop sends both standbys everything: they replay to the same point
                PostgresCluster twinCluster = PostgresCluster.attach(twin, twinPort);
                String standbyEnd = await(() -> replayed(PostgresCluster.attach(standby, standbyPort)), lsn -> lsn.equals(replayed(twinCluster)),
                        Duration.ofSeconds(30));
                standby.promote();
                twin.promote();
                PostgresCluster promoted = PostgresCluster.attach(standby, standbyPort);
                awaitPromoted(promoted);
                awaitPromoted(twinCluster);
                assertThat(Files.readString(twinDir.resolve("pg_wal/00000002.history")))
                        .as("both promoted at %s with the same history", standbyEnd)
                        .isEqualTo(Files.readString(standbyDir.resolve("pg_wal/00000002.history")));
                String newPrimary = "postgresql://postgres@127.0.0.1:" + standbyPort + "/postgres";
                assertThatThrownBy(() -> engine.changeConnection("shop", new ConnectionChange(newPrimary, null, null), "alice"))
                        .as("the standby URL names the promoted server, which is not a standby any more")
                        .hasMessageContaining("not in recovery");
                assertThat(engine.database("shop").pgUrl()).as("nothing changed").isEqualTo(primary.url());
                DatabaseView moved = engine.changeConnection("shop", new ConnectionChange(newPrimary, standbyDir.toString(), ""), "alice");
                assertThat(moved.pgUrl()).isEqualTo(newPrimary);
                assertThat(moved.standbyUrl()).isNull();

                promoted.execute("insert into stock(item) values ('after the failover')");
                Instant later = serverNow(promoted);
                Map<String, String> atLater;
                try (Connection c = promoted.connect()) {
                    atLater = TableChecksums.of(c);
                }
                Thread.sleep(1100);
                promoted.execute("delete from stock");
                // the whole view: a failure shows the stream's state, source and last error beside the window
                await(() -> engine.database("shop"), d -> d.window().end() != null && d.window().end().isAfter(later.plusSeconds(1)),
                        Duration.ofMinutes(2));
                assertThat(engine.database("shop").streaming().timeline()).isEqualTo(2);
                assertThat(restoredContent(engine, later, tmp.resolve("restored-after-failover"), primary))
                        .as("a moment after the failover, from the backup before it").isEqualTo(atLater);
                BackupView afterFailover = engine.requestBaseBackup("shop", "alice");
                BackupView taken = await(() -> engine.baseBackup("shop", afterFailover.id()), b -> !b.status().matches("requested|running"),
                        Duration.ofMinutes(2));
                assertThat(taken.status()).as(taken.failure()).isEqualTo("completed");
                assertThat(taken.timeline()).isEqualTo(2);

                // the twin: the same system, the same timeline 2 with the same switch point, but behind what the archive holds
                // of timeline 2 (the promoted standby wrote on): refused as behind
                assertThatThrownBy(() -> engine.changeConnection("shop", new ConnectionChange(
                        "postgresql://postgres@127.0.0.1:" + twinPort + "/postgres", twinDir.toString(), ""), "alice"))
                        .hasMessageContaining("on timeline 2, behind the").hasMessageContaining("not the current primary");
                assertThat(engine.database("shop").pgUrl()).as("nothing changed").isEqualTo(newPrimary);
                twin.stop();

                // the old primary started again after the failover writes the old timeline: pointing back at it is refused
                primary.startServer();
                assertThatThrownBy(() -> engine.changeConnection("shop", new ConnectionChange(primary.url(),
                        primary.dataDirectory().toString(), ""), "alice"))
                        .hasMessageContaining("writes timeline 1, but the WAL archived so far reached timeline 2")
                        .hasMessageContaining("not the current primary");
                assertThat(engine.database("shop").pgUrl()).as("nothing changed").isEqualTo(newPrimary);
                // split brain: the old primary promoted on its own takes timeline 2 too, forked elsewhere
                primary.stopServer();
                Files.writeString(primary.dataDirectory().resolve("standby.signal"), "");
                primary.startServer();
                primary.server().promote();
                awaitPromoted(primary);
                primary.execute("insert into stock(item) values ('zombie')");
                assertThatThrownBy(() -> engine.changeConnection("shop", new ConnectionChange(primary.url(),
                        primary.dataDirectory().toString(), ""), "alice"))
                        .hasMessageContaining("began timeline 2 at").hasMessageContaining("another branch");
                assertThat(engine.database("shop").pgUrl()).as("nothing changed").isEqualTo(newPrimary);
                primary.stopServer();
            } finally {
                standby.stop();
                twin.stop();
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    /** Restores shop to moment beside, into target, checks the restore completed, and returns the restored content. */
    private static Map<String, String> restoredContent(Engine engine, Instant moment, Path target, PostgresCluster source)
            throws Exception {
        int port = PostgresCluster.freePort();
        RestoreView r = engine.requestRestore("shop", new RestoreRequest(moment.atOffset(ZoneOffset.UTC), false, target.toString(),
                port, false), "bob");
        RestoreView restored = await(() -> engine.restore("shop", r.id()), v -> !v.status().matches("requested|running"),
                Duration.ofMinutes(2));
        assertThat(restored.status()).as(restored.failure()).isEqualTo("completed");
        PostgresCluster copy = PostgresCluster.attach(PgServer.factory(source.server().binaries(), ServerUser.detect()).at(target), port);
        try (Connection c = copy.connect()) {
            return TableChecksums.of(c);
        } finally {
            copy.stopServer();
        }
    }

    /**
     * Downloads the base backup as a tar archive, extracts it as an operator would (mkdir -m 700, tar -xf), starts it on
     * a port of its own with nothing else done, and returns its content.
     */
    private static Map<String, String> startedFromArchive(Engine engine, String backupId, Path target, PostgresCluster source)
            throws Exception {
        Path tar = target.resolveSibling(target.getFileName() + ".tar");
        try (java.io.OutputStream out = Files.newOutputStream(tar)) {
            engine.downloadBaseBackup("shop", backupId).writer().writeTo(out);
        }
        Files.createDirectory(target, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        Process untar = new ProcessBuilder("tar", "-xf", tar.toString(), "-C", target.toString()).redirectErrorStream(true).start();
        String output = new String(untar.getInputStream().readAllBytes());
        assertThat(untar.waitFor()).as("tar -xf: %s", output).isZero();
        ServerUser.detect().own(target);
        int port = PostgresCluster.freePort();
        Files.writeString(target.resolve("postgresql.auto.conf"), "\nport = " + port + "\n", java.nio.file.StandardOpenOption.APPEND);
        PostgresCluster copy = PostgresCluster.attach(PgServer.factory(source.server().binaries(), ServerUser.detect()).at(target), port);
        try {
            copy.startServer();
        } catch (java.io.IOException e) {
            throw new AssertionError("the extracted archive does not start: " + copy.log(), e);
        }
        try (Connection c = copy.connect()) {
            return TableChecksums.of(c);
        } finally {
            copy.stopServer();
        }
    }

    /**
     * Makes server a streaming standby of primary (pg_basebackup -R into its directory), starts it on a free port
     * with its log beside the directory, and returns the port.
     */
    private static int startStandby(PostgresCluster primary, PgServer server, Path tmp) throws Exception {
        Path dir = server.dataDirectory();
        server.run(List.of(primary.server().binaries().tool("pg_basebackup").toString(), "-D", dir.toString(), "-h",
                "127.0.0.1", "-p", Integer.toString(primary.port()), "-U", "postgres", "-R", "-X", "stream", "-c", "fast"),
                Duration.ofMinutes(2), "pg_basebackup");
        int port = PostgresCluster.freePort();
        Files.writeString(dir.resolve("postgresql.auto.conf"), "port = " + port + "\nunix_socket_directories = '"
                + tmp + "'\n", java.nio.file.StandardOpenOption.APPEND);
        server.start(tmp.resolve(dir.getFileName() + ".log"), Duration.ofSeconds(60));
        return port;
    }

    /** The position a standby has replayed to. */
    private static String replayed(PostgresCluster server) {
        try (Connection c = server.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_last_wal_replay_lsn()::text")) {
            rs.next();
            return rs.getString(1);
        } catch (java.sql.SQLException e) {
            return "not known: " + e.getMessage();
        }
    }

    /** Waits until the promoted server has left recovery. */
    private static void awaitPromoted(PostgresCluster server) throws Exception {
        await(() -> {
            try (Connection c = server.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select pg_is_in_recovery()")) {
                rs.next();
                return rs.getBoolean(1);
            } catch (java.sql.SQLException e) {
                return true;
            }
        }, inRecovery -> !inRecovery, Duration.ofSeconds(60));
    }

    private static Instant serverNow(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery("select clock_timestamp()")) {
            r.next();
            return r.getTimestamp(1).toInstant();
        }
    }

    /** Whether a one-value boolean query answers true. */
    private static boolean holds(Statement st, String sql) {
        try (ResultSet rs = st.executeQuery(sql)) {
            return rs.next() && rs.getBoolean(1);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }
}
