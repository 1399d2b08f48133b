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
import org.junit.jupiter.api.AfterEach;
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
 * A time target read beside the replay holds the replay before a relation file created until a commit at or before the
 * target follows, for at most WalScan.HOLD_NEW_FILES_BYTES of WAL (here 1 MiB): a bulk load into a new table, open at
 * the target and committed after it, is replayed on beyond that, and the file PostgreSQL leaves behind for it (used by
 * nothing once the recovery rolled its transaction back) is removed after the recovery. The copy equals the source at
 * the target, and holds no file of the load.
 */
class NewFileAcrossTargetTest {

    @AfterEach
    void resetHold() {
        System.clearProperty(WalScan.HOLD_NEW_FILES_PROPERTY);
    }

    @Test
    void aBulkLoadOpenAtTheTargetIsReplayedOnAndItsFileRemoved() throws Exception {
        System.setProperty(WalScan.HOLD_NEW_FILES_PROPERTY, Long.toString(1L << 20));
        Path tmp = Files.createTempDirectory("tidemark-newfile-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "nf")) {
            db.startStreaming(WalListener.NONE);
            db.cluster.execute("create table kept(id int primary key, v text)",
                    "insert into kept select g, md5(g::text) from generate_series(1, 1000) g");
            BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                    .run("nf", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            String loadedFile;
            Map<String, String> atTarget;
            Instant target;
            db.cluster.execute("insert into kept values (1001, 'committed before the load')");
            try (Connection load = db.cluster.connect(); Statement s = load.createStatement()) {
                load.setAutoCommit(false);
                // about 8 MiB of WAL into a new table, open across the target
                s.execute("create table loaded(id int, pad text)");
                s.execute("insert into loaded select g, repeat(md5(g::text), 6) from generate_series(1, 30000) g");
                try (ResultSet r = s.executeQuery("select pg_relation_filepath('loaded')")) {
                    r.next();
                    loadedFile = r.getString(1);
                }
                try (Connection c = db.cluster.connect()) {
                    atTarget = TableChecksums.of(c);
                }
                target = db.cluster.serverNow();
                Thread.sleep(1100);
                load.commit(); // after the target: the copy must not have the table, nor its file
            }
            db.cluster.execute("insert into kept values (1002, 'after the target')");
            db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));
            assertThat(db.cluster.dataDirectory().resolve(loadedFile)).as("the load's file on the source").exists();

            Path copy = tmp.resolve("copy");
            int port = PostgresCluster.freePort();
            RestoreRunner.Result result = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user))
                    .run(new RestoreRunner.Request("nf", "r1", "b1", backup.manifestSha256(), Optional.of(target), copy, port, false,
                            "postgres", 2, Duration.ofMinutes(3)));
            assertThat(result.summary()).contains("WAL read beside the replay").contains("of transactions left out at the target removed");
            PostgresCluster restored = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), user).at(copy), port);
            try (Connection c = restored.connect()) {
                assertThat(TableChecksums.of(c)).as("the copy at the target").isEqualTo(atTarget);
                try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select to_regclass('loaded') is null")) {
                    r.next();
                    assertThat(r.getBoolean(1)).as("the load's table, committed after the target").isTrue();
                }
            } finally {
                restored.stopServer();
            }
            assertThat(copy.resolve(loadedFile)).as("the file the replay made for the load, rolled back").doesNotExist();
            try (var dir = Files.list(copy.resolve(loadedFile).getParent())) {
                String number = copy.resolve(loadedFile).getFileName().toString();
                assertThat(dir.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(number + "_") || n.startsWith(number + "."));
            }
        } finally {
            RestoreRunner.deleteTree(tmp);
        }
    }
}
