package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
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

import static org.assertj.core.api.Assertions.assertThat;

/**
 * max_connections raised on the source after the base backup: the WAL after it cannot be replayed under the backup's
 * configuration (PostgreSQL pauses, or refuses to start, saying so). The restore raises the setting and goes on.
 */
class RaisedSettingRestoreTest {

    @Test
    void aSettingRaisedAfterTheBackupIsRaisedInTheRestoredConfiguration() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-raised-");
        ServerUser.detect().ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "raised")) {
            db.startStreaming(WalListener.NONE);
            db.cluster.execute("create table marker(id serial primary key, note text)", "insert into marker(note) values ('before')");
            BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                    .run("raised", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());

            db.cluster.execute("alter system set max_connections = 150");
            db.cluster.stopServer();
            db.cluster.startServer();
            db.cluster.execute("insert into marker(note) values ('after the restart')");
            Map<String, String> atTarget = TableChecksums.of(db.cluster);
            Instant target = db.cluster.serverNow();
            Thread.sleep(1100);
            db.cluster.execute("insert into marker(note) values ('after the target')");
            db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));

            for (Optional<Instant> time : java.util.List.of(Optional.of(target), Optional.<Instant>empty())) {
                String name = time.isPresent() ? "time" : "latest";
                Path dir = tmp.resolve("restored-" + name);
                int port = PostgresCluster.freePort();
                RestoreRunner runner = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
                runner.run(new RestoreRunner.Request("raised", "r-" + name, "b1", backup.manifestSha256(), time, dir, port, false,
                        "postgres", 2, Duration.ofMinutes(3)));
                PostgresCluster restored = PostgresCluster.attach(
                        PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()).at(dir), port);
                try (Connection c = restored.connect(); Statement st = c.createStatement()) {
                    try (ResultSet rs = st.executeQuery("show max_connections")) {
                        rs.next();
                        assertThat(rs.getString(1)).isEqualTo("150");
                    }
                    if (time.isPresent()) {
                        assertThat(TableChecksums.of(c)).as("content at the target").isEqualTo(atTarget);
                    } else {
                        try (ResultSet rs = st.executeQuery("select count(*) from marker")) {
                            rs.next();
                            assertThat(rs.getInt(1)).isEqualTo(3);
                        }
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
