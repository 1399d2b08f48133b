package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.ServerEnvironment;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What PostgreSQL's own recovery target gets wrong, and a restore must not: a database dropped after the target time is
 * still there (its files go before the DROP commits, and a time target replays up to that commit); a tablespace created
 * in the replayed WAL is never created at the source's live location by a copy beside it.
 */
class ReplayHazardsTest {

    @Test
    void aDatabaseDroppedAfterTheTargetIsThereAndATablespaceCreatedBeforeItIsRefusedBeside() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-hazards-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "hz")) {
            db.startStreaming(WalListener.NONE);
            // the server's own configuration (in the backup) turns hot standby off, where a recovery needs it on: an
            // in-place restore then restarts the server, as a reload would leave it on (RecoverySettings.canReloadAfter)
            Files.writeString(db.cluster.dataDirectory().resolve("postgresql.conf"), "\nhot_standby = off\n",
                    java.nio.file.StandardOpenOption.APPEND);
            db.cluster.execute("create database appdb");
            db.cluster.executeIn("appdb", "create table orders(id int primary key, item text)",
                    "insert into orders select g, md5(g::text) from generate_series(1, 5000) g");
            BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                    .run("hz", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            db.cluster.executeIn("appdb", "insert into orders values (5001, 'the last order')");
            Map<String, String> appAtTarget;
            try (Connection c = db.cluster.connect("appdb")) {
                appAtTarget = TableChecksums.of(c);
            }
            Instant target = db.cluster.serverNow();
            Thread.sleep(1100);
            db.cluster.execute("drop database appdb");

            Path space = Files.createDirectories(tmp.resolve("space"));
            user.own(space);
            db.cluster.execute("create tablespace fast location '" + space + "'",
                    "create table hot(id int primary key, v text) tablespace fast",
                    "insert into hot select g, md5(g::text) from generate_series(1, 2000) g", "checkpoint");
            Instant afterTablespace = db.cluster.serverNow();
            db.awaitDurableTime(afterTablespace, Duration.ofSeconds(60));
            Map<String, Long> sourceSpace = files(space);

            RestoreRunner runner = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user));
            Path copy = tmp.resolve("before-drop");
            int port = PostgresCluster.freePort();
            runner.run(new RestoreRunner.Request("hz", "r1", "b1", backup.manifestSha256(), Optional.of(target), copy, port, false,
                    "postgres", 2, Duration.ofMinutes(3)));
            PostgresCluster restored = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), user).at(copy), port);
            try (Connection c = restored.connect("appdb")) {
                assertThat(TableChecksums.of(c)).as("appdb as it was at the target, ten seconds before it was dropped")
                        .isEqualTo(appAtTarget);
            } finally {
                restored.stopServer();
            }

            Path refused = tmp.resolve("after-tablespace");
            for (Optional<Instant> time : java.util.List.of(Optional.of(afterTablespace), Optional.<Instant>empty())) {
                assertThatThrownBy(() -> runner.run(new RestoreRunner.Request("hz", "r2", "b1", backup.manifestSha256(), time, refused,
                        PostgresCluster.freePort(), false, "postgres", 2, Duration.ofMinutes(3))))
                        .as("restore beside to %s", time.map(Instant::toString).orElse("the latest moment"))
                        .isInstanceOf(RestoreRejectedException.class)
                        .hasMessageContaining("creates tablespace").hasMessageContaining(space.toString())
                        .hasMessageContaining("take a base backup now");
                assertThat(refused).doesNotExist();
                assertThat(files(space)).as("the source's tablespace is untouched").isEqualTo(sourceSpace);
            }
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select count(*) from hot")) {
                r.next();
                assertThat(r.getInt(1)).isEqualTo(2000);
            }

            // a backup whose own window held the CREATE TABLESPACE (its stop moved past it here) is told apart, so the
            // scheduler takes another; the real one's window holds none
            assertThat(WalScan.tablespacesCreatedDuring(repo, backup.manifest(), tmp)).isEmpty();
            String json = new String(backup.manifest().toJson(), java.nio.charset.StandardCharsets.UTF_8)
                    .replace("\"stopLsn\" : \"" + backup.manifest().stopLsn() + "\"", "\"stopLsn\" : \"" + db.cluster.currentLsn() + "\"");
            dev.tidemark.engine.basebackup.BackupManifest widened = dev.tidemark.engine.basebackup.BackupManifest.fromJson(
                    new java.io.ByteArrayInputStream(json.getBytes(java.nio.charset.StandardCharsets.UTF_8)), "widened");
            assertThat(widened.stopLsn()).isNotEqualTo(backup.manifest().stopLsn());
            assertThat(WalScan.tablespacesCreatedDuring(repo, widened, tmp)).containsExactly(space.toString());

            // in place the tablespace is the database's own: its current directory is moved aside, replay makes it again
            db.cluster.execute("insert into hot values (2001, 'after the target')");
            db.stopStreaming();
            db.cluster.stopServer();
            RestoreRunner.Result inPlace = runner.run(new RestoreRunner.Request("hz", "r3", "b1", backup.manifestSha256(),
                    Optional.of(afterTablespace), db.cluster.dataDirectory(), db.cluster.port(), true, "postgres", 2, Duration.ofMinutes(3)));
            assertThat(inPlace.movedAside()).isNotNull();
            assertThat(inPlace.summary()).as("restarted: its own hot_standby differs from the recovery's").contains("; restarted by pg_ctl")
                    .doesNotContain("no restart needed");
            ServerEnvironment.assertMinimal(db.cluster.dataDirectory()); // the production server, after an in-place restore
            // and it runs with nothing of the recovery's settings: restarted, its own port in its own postgresql.conf
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select current_setting('restore_command'), current_setting('log_line_prefix'),"
                         + " current_setting('port'), current_setting('hot_standby')")) {
                r.next();
                assertThat(r.getString(4)).as("its own hot_standby, after the restart").isEqualTo("off");
                assertThat(r.getString(1)).as("restore_command of the running server").isEmpty();
                assertThat(r.getString(2)).as("log_line_prefix of the running server").isEqualTo("%m [%p] ");
                assertThat(r.getInt(3)).isEqualTo(db.cluster.port());
            }
            assertThat(Files.readString(db.cluster.dataDirectory().resolve("postgresql.auto.conf")))
                    .as("no port of the restore's for a standby cloned later").doesNotContain("port = ").doesNotContain("restore_command");
            try (Stream<Path> siblings = Files.list(tmp)) {
                assertThat(siblings.map(p -> p.getFileName().toString())).as("the tablespace as it was, set aside")
                        .anyMatch(n -> n.startsWith("space.tidemark-moved-"));
            }
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select count(*), max(id) from hot")) {
                r.next();
                assertThat(r.getInt(1)).as("the table in the tablespace, as at the target").isEqualTo(2000);
                assertThat(r.getInt(2)).isEqualTo(2000);
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static Map<String, Long> files(Path root) throws Exception {
        Map<String, Long> files = new TreeMap<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.filter(Files::isRegularFile).toList()) {
                files.put(root.relativize(p) + "@" + Files.getLastModifiedTime(p).toMillis(), Files.size(p));
            }
        }
        return files;
    }
}
