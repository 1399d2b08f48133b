package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.operations.Progress;
import dev.tidemark.engine.postgres.Lsn;
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
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A restore to the latest moment after a long stretch of WAL (several segments): PostgreSQL starts once the files are
 * written and replays the WAL as the read beside it passes it; the copy equals the source's last commit, the progress
 * showed the replay against the end of the archive, and the result says where the time went.
 */
class StreamedLatestRestoreTest {

    @Test
    void latestAfterALongWalStretchEqualsTheSourcesLastCommit() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-streamed-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "st")) {
            db.startStreaming(WalListener.NONE);
            db.cluster.pgbench("postgres", "-i", "-s", "1", "-q");
            BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                    .run("st", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            String start = db.cluster.currentLsn().toString();
            db.cluster.execute("create database more");
            db.cluster.pgbench("more", "-i", "-s", "6", "-q"); // about 100 MiB of WAL after the backup
            db.cluster.pgbench("postgres", "-c", "2", "-t", "200", "-n");
            db.cluster.execute("create table marker(note text)", "insert into marker values ('the last commit')");
            Map<String, String> postgres;
            Map<String, String> more;
            try (Connection c = db.cluster.connect()) {
                postgres = TableChecksums.of(c);
            }
            try (Connection c = db.cluster.connect("more")) {
                more = TableChecksums.of(c);
            }
            long walAfterBackup = Lsn.parse(db.cluster.currentLsn().toString()).value() - Lsn.parse(start).value();
            assertThat(walAfterBackup).as("several segments of WAL to replay").isGreaterThan(5L * 16 * 1024 * 1024);
            db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));

            RestoreRunner runner = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user));
            List<BackupProgress> seen = new CopyOnWriteArrayList<>();
            Thread watch = new Thread(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    BackupProgress p = runner.progress();
                    if (p.replay() != null) {
                        seen.add(p);
                    }
                    try {
                        Thread.sleep(10);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            watch.start();
            Path copy = tmp.resolve("latest");
            int port = PostgresCluster.freePort();
            RestoreRunner.Result result;
            try {
                result = runner.run(new RestoreRunner.Request("st", "r1", "b1", backup.manifestSha256(), Optional.empty(), copy, port,
                        false, "postgres", 2, Duration.ofMinutes(3)));
            } finally {
                watch.interrupt();
                watch.join();
            }
            PostgresCluster restored = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), user).at(copy), port);
            try {
                try (Connection c = restored.connect()) {
                    assertThat(TableChecksums.of(c)).as("postgres at the last commit").isEqualTo(postgres);
                }
                try (Connection c = restored.connect("more")) {
                    assertThat(TableChecksums.of(c)).as("more at the last commit").isEqualTo(more);
                }
            } finally {
                restored.stopServer();
            }
            assertThat(result.summary()).as("where the time went").contains("phases: checks ").contains("files written ")
                    .contains("PostgreSQL start-up until consistent ").contains("WAL read beside the replay ")
                    .contains("restore_command waited ").doesNotContain("files written and WAL read");
            assertThat(seen).as("the replay's position was shown while it replayed").isNotEmpty();
            for (BackupProgress p : seen) {
                Progress.Replay r = p.replay();
                assertThat(p.phase()).isEqualTo("replaying WAL");
                assertThat(r.targetTime()).as("the latest moment has no target time").isNull();
                assertThat(Lsn.parse(r.lsn())).isLessThanOrEqualTo(Lsn.parse(r.targetLsn()));
                assertThat(p.bytesTotal()).isGreaterThanOrEqualTo(walAfterBackup);
                assertThat(p.bytesDone()).isLessThanOrEqualTo(p.bytesTotal());
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }
}
