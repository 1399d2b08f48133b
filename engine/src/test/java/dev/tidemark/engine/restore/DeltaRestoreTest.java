package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An in-place restore copies the files that still hold the backup's bytes from the directory it moved aside instead
 * of downloading them: the files it writes are those a full restore writes, byte for byte (a damaged local file with
 * the backup's size and time included), files the backup does not have are not in the result, fewer bytes are
 * downloaded, and the directory moved aside is left exactly as it was.
 */
class DeltaRestoreTest {

    @Test
    void inPlaceCopiesWhatStillMatchesAndWritesWhatAFullRestoreWrites() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-delta-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "dl")) {
            db.startStreaming(WalListener.NONE);
            db.cluster.execute("create table keep(id int primary key, v text)",
                    "insert into keep select g, md5(g::text) from generate_series(1, 100000) g",
                    "create table changed(id int primary key, v text)",
                    "insert into changed select g, md5(g::text) from generate_series(1, 50000) g",
                    "create table dropped(id int primary key, v text)",
                    "insert into dropped select g, md5(g::text) from generate_series(1, 20000) g",
                    // hint bits set now, or the first read after the backup rewrites every page of the table
                    "vacuum (freeze)", "checkpoint");
            // pieces of 1 MiB: keep's file is copied and checked piece by piece
            BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2)
                    .withPieceBytes(1 << 20)).run("dl", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            db.cluster.execute("update changed set v = 'changed' where id % 20 = 0", "delete from changed where id % 20 = 1",
                    "drop table dropped", "create table fresh(id int primary key, v text)",
                    "insert into fresh select g, md5(g::text) from generate_series(1, 5000) g");
            Map<String, String> atTarget = TableChecksums.of(db.cluster);
            Instant target = db.cluster.serverNow();
            Thread.sleep(1100);
            db.cluster.execute("create table late(id int)", "insert into late values (1)", "checkpoint");
            String late = relationPath(db.cluster, "late");
            db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));

            RestoreRunner runner = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user));
            int port = PostgresCluster.freePort();
            RestoreRunner.Result full = runner.run(new RestoreRunner.Request("dl", "r1", "b1", backup.manifestSha256(),
                    Optional.of(target), tmp.resolve("full"), port, false, "postgres", 2, Duration.ofMinutes(3)));
            PostgresCluster beside = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), user).at(tmp.resolve("full")), port);
            try {
                assertThat(TableChecksums.of(beside)).isEqualTo(atTarget);
            } finally {
                beside.stopServer();
            }
            assertThat(full.reusedBytes()).isZero();
            assertThat(full.downloadedBytes()).isEqualTo(backup.manifest().objects().stream().mapToLong(BackupManifest.BundleObject::storedBytes).sum());

            String stray = Path.of(relationPath(db.cluster, "keep")).resolveSibling("999999").toString();
            db.stopStreaming();
            db.cluster.stopServer();
            Path pgdata = db.cluster.dataDirectory();
            Files.writeString(pgdata.resolve(stray), "not in the backup");
            Map<String, String> before = tree(pgdata);

            // the writer itself, beside: from the stopped directory (one file damaged with the backup's size and time)
            // it writes exactly what it writes from the repository alone
            BackupManifest manifest = backup.manifest();
            BackupManifest.FileEntry damaged = manifest.files().stream().filter(e -> e.type() == BackupManifest.FileEntry.FILE
                    && e.size() > 0 && e.path().startsWith("base/") && unchanged(pgdata, e)).findFirst().orElseThrow();
            Path damagedCopy = tmp.resolve("damaged");
            Files.copy(pgdata.resolve(damaged.path()), damagedCopy);
            byte[] bytes = Files.readAllBytes(damagedCopy);
            bytes[bytes.length / 2] ^= 1;
            Files.write(damagedCopy, bytes);
            Files.setLastModifiedTime(damagedCopy, FileTime.from(damaged.mtime()));
            DataDirectoryWriter fromRepository = writer(repo);
            DataDirectoryWriter delta = writer(repo);
            long t0 = System.nanoTime();
            write(fromRepository, manifest, tmp.resolve("w-full"), null);
            long t1 = System.nanoTime();
            write(delta, manifest, tmp.resolve("w-delta"), path -> path.equals(damaged.path()) ? damagedCopy : pgdata.resolve(path));
            long t2 = System.nanoTime();
            assertThat(differences(tree(tmp.resolve("w-delta")), tree(tmp.resolve("w-full")))).as("files, modes or times that differ")
                    .containsExactly("backup_label"); // its time is the restore's own
            assertThat(tmp.resolve("w-delta/backup_label")).hasSameTextualContentAs(tmp.resolve("w-full/backup_label"));
            System.out.printf("writer: from the repository alone %d bytes downloaded in %d ms; from the stopped directory %d downloaded,"
                    + " %d copied in %d ms%n", fromRepository.downloadedBytes(), (t1 - t0) / 1_000_000, delta.downloadedBytes(),
                    delta.reusedBytes(), (t2 - t1) / 1_000_000);
            assertThat(delta.reusedBytes()).isPositive();
            assertThat(delta.downloadedBytes()).isLessThan(fromRepository.downloadedBytes());
            assertThat(differences(tree(pgdata), before)).as("the directory read from is untouched").isEmpty();

            RestoreRunner.Result inPlace = runner.run(new RestoreRunner.Request("dl", "r2", "b1", backup.manifestSha256(),
                    Optional.of(target), pgdata, db.cluster.port(), true, "postgres", 2, Duration.ofMinutes(3)));
            assertThat(TableChecksums.of(db.cluster)).as("the database as at the target").isEqualTo(atTarget);
            assertThat(inPlace.reusedBytes()).isPositive();
            assertThat(inPlace.downloadedBytes()).isLessThan(full.downloadedBytes());
            assertThat(inPlace.summary()).contains("kept from the old data directory");
            assertThat(pgdata.resolve(stray)).as("a file the backup does not have").doesNotExist();
            assertThat(pgdata.resolve(late)).as("a table created after the target").doesNotExist();
            assertThat(differences(tree(inPlace.movedAside()), before)).as("the old data directory, moved aside as it was").isEmpty();
            System.out.printf("full restore beside: %d bytes downloaded; delta in place: %d downloaded, %d copied%n",
                    full.downloadedBytes(), inPlace.downloadedBytes(), inPlace.reusedBytes());
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static DataDirectoryWriter writer(Repository repo) {
        return new DataDirectoryWriter(repo, new AtomicReference<>(BackupProgress.starting("test")), new Cancellation());
    }

    private static void write(DataDirectoryWriter writer, BackupManifest manifest, Path target, Function<String, Path> previous)
            throws Exception {
        Files.createDirectory(target);
        RestoreRunner.Request request = new RestoreRunner.Request("dl", "w", "b1", null, Optional.empty(), target, 1, false,
                "postgres", 2, Duration.ofMinutes(1));
        writer.write(request, manifest, target, new Tablespaces(request, manifest, target, null), new CreatedPaths(target), previous);
    }

    private static boolean unchanged(Path pgdata, BackupManifest.FileEntry e) {
        try {
            Path p = pgdata.resolve(e.path());
            return Files.size(p) == e.size() && Files.getLastModifiedTime(p).toMillis() == e.mtime().toEpochMilli();
        } catch (Exception x) {
            return false;
        }
    }

    private static java.util.List<String> differences(Map<String, String> a, Map<String, String> b) {
        java.util.Set<String> keys = new java.util.TreeSet<>(a.keySet());
        keys.addAll(b.keySet());
        return keys.stream().filter(k -> !java.util.Objects.equals(a.get(k), b.get(k))).toList();
    }

    /** Every file and directory under root: its SHA-256 (files), mode and time. */
    private static Map<String, String> tree(Path root) throws Exception {
        Map<String, String> tree = new TreeMap<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.filter(p -> !p.equals(root)).toList()) {
                String what = Files.isSymbolicLink(p) ? "-> " + Files.readSymbolicLink(p)
                        : PosixFilePermissions.toString(Files.getPosixFilePermissions(p)) + (Files.isRegularFile(p)
                        ? " " + HexFormat.of().formatHex(Codec.sha256().digest(Files.readAllBytes(p))) + " " + Files.getLastModifiedTime(p)
                        : "");
                tree.put(root.relativize(p).toString(), what);
            }
        }
        return tree;
    }

    private static String relationPath(PostgresCluster cluster, String table) throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("select pg_relation_filepath('" + table + "')")) {
            r.next();
            return r.getString(1);
        }
    }
}
