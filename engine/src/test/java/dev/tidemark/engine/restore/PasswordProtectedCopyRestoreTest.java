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
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The copy carries the source's pg_hba.conf and roles: where they ask for a password from 127.0.0.1, the restore
 * logs in with the password configured for the database, and without one (or a wrong one) it follows the recovery
 * through the server's log instead of waiting for a login that never succeeds.
 */
class PasswordProtectedCopyRestoreTest {
    private static final String PASSWORD = "s3cret-for-the-copy";

    @Test
    void aCopyThatAsksForAPasswordIsRestoredWithItAndWithoutIt() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-hba-");
        ServerUser.detect().ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "locked")) {
            db.cluster.execute("alter system set max_prepared_transactions = 4");
            db.cluster.stopServer();
            db.cluster.startServer();
            db.startStreaming(WalListener.NONE);
            db.cluster.execute("alter role postgres password '" + PASSWORD + "'",
                    "create table marker(id serial primary key, note text)", "insert into marker(note) values ('before')");
            // the file the backup copies asks for passwords; the running source keeps the rules it loaded (trust)
            Files.writeString(db.cluster.dataDirectory().resolve("pg_hba.conf"), """
                    local all all trust
                    host all all 127.0.0.1/32 scram-sha-256
                    host replication all 127.0.0.1/32 scram-sha-256
                    """);
            BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                    .run("locked", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            // prepared before the target's last commit and still open then: in the copy as a prepared transaction
            db.cluster.execute("begin", "insert into marker(note) values ('prepared')", "prepare transaction 'order-77'");
            db.cluster.execute("insert into marker(note) values ('at the target')");
            Map<String, String> atTarget = TableChecksums.of(db.cluster);
            Instant target = db.cluster.serverNow();
            Thread.sleep(1100);
            db.cluster.execute("insert into marker(note) values ('after the target')");
            db.cluster.execute("commit prepared 'order-77'");
            db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));

            for (String password : new String[]{null, "not-the-password", PASSWORD}) {
                String name = password == null ? "none" : password.equals(PASSWORD) ? "right" : "wrong";
                Path dir = tmp.resolve("restored-" + name);
                int port = PostgresCluster.freePort();
                RestoreRunner runner = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
                RestoreRunner.Result result = runner.run(new RestoreRunner.Request("locked", "r-" + name, "b1", backup.manifestSha256(),
                        Optional.of(target), dir, port, false, "postgres", 2, Duration.ofMinutes(3), password));
                assertThat(result.stoppedAtTarget()).as(result.summary()).isTrue();
                assertThat(result.reachedTime()).as(result.summary()).isNotNull().isBeforeOrEqualTo(target);
                assertThat(result.timeline()).as(result.summary()).isEqualTo(2);
                if (PASSWORD.equals(password)) {
                    assertThat(result.summary()).doesNotContain("followed through the server's log")
                            .contains("1 prepared transaction(s) came with it").contains("'order-77'");
                } else {
                    assertThat(result.summary()).contains("followed through the server's log");
                }
                // the copy runs with the minimal environment: none of the engine's secrets readable through /proc
                ServerEnvironment.assertMinimal(dir);
                PostgresCluster restored = PostgresCluster.attach(
                        PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()).at(dir), port);
                try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres", "postgres", PASSWORD)) {
                    assertThat(TableChecksums.of(c)).as("content at the target (%s)", name).isEqualTo(atTarget);
                    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select pg_is_in_recovery()")) {
                        rs.next();
                        assertThat(rs.getBoolean(1)).as("promoted").isFalse();
                    }
                } finally {
                    restored.stopServer();
                }
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }
}
