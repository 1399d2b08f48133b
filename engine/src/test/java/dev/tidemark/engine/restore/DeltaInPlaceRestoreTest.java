package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An in-place restore without a copy (delta) restores the stopped database where it is: the content equals the
 * source's at the target after updates, deletes, a dropped and a new table; files that still match keep their inode
 * and time; files the backup does not have are removed; no copy is left beside. A damaged file with the backup's size
 * and time is kept by the cheap check and caught by the checksum option (the writer, on a copy of the stopped directory). A directory the repository could not give
 * back (not stopped cleanly, or its last checkpoint beyond the repository's WAL) is refused with nothing changed.
 */
class DeltaInPlaceRestoreTest {
    private static final long SEGMENT = 16L << 20;

    @Test
    void restoresWhereItIsKeepingWhatMatchesAndRefusesWhatTheRepositoryCouldNotGiveBack() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-delta-in-place-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        // archiving of its own (archive_command copying each segment): kept on through an in-place restore
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(true), repo, "dip")) {
            db.startStreaming(WalListener.NONE);
            db.cluster.execute("create table keep(id int primary key, v text)",
                    "insert into keep select g, md5(g::text) from generate_series(1, 100000) g",
                    "create table changed(id int primary key, v text)",
                    "insert into changed select g, md5(g::text) from generate_series(1, 50000) g",
                    "create table dropped(id int primary key, v text)",
                    "insert into dropped select g, md5(g::text) from generate_series(1, 20000) g",
                    "vacuum (freeze)", "checkpoint");
            BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2)
                    .withPieceBytes(1 << 20)).run("dip", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            BackupManifest manifest = backup.manifest();
            db.cluster.execute("update changed set v = 'changed' where id % 20 = 0", "delete from changed where id % 20 = 1",
                    "drop table dropped", "create table fresh(id int primary key, v text)",
                    "insert into fresh select g, md5(g::text) from generate_series(1, 5000) g");
            Map<String, String> atTarget = TableChecksums.of(db.cluster);
            Instant target = db.cluster.serverNow();
            Thread.sleep(1100);
            db.cluster.execute("create table late(id int)", "insert into late values (1)", "checkpoint");
            String late = relationPath(db.cluster, "late");
            String keep = relationPath(db.cluster, "keep");
            db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));
            Path pgdata = db.cluster.dataDirectory();
            RestoreRunner runner = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user));

            // not stopped cleanly: refused, nothing changed
            db.cluster.server().stopImmediately();
            Map<String, String> crashed = tree(pgdata);
            assertThatThrownBy(() -> runner.run(request(backup, "r1", target, pgdata, db.cluster.port(), RestoreRunner.InPlaceMode.DELTA)))
                    .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("not stopped cleanly")
                    .hasMessageContaining("without --delta");
            assertThat(differences(tree(pgdata), crashed)).as("the directory after the refusal").isEmpty();

            // stopped cleanly, but its last checkpoint lies beyond the repository's WAL: refused, nothing changed
            db.cluster.startServer();
            db.stopStreaming();
            db.cluster.execute("insert into late values (2)");
            db.cluster.stopServer();
            Map<String, String> ahead = tree(pgdata);
            assertThatThrownBy(() -> runner.run(request(backup, "r2", target, pgdata, db.cluster.port(), RestoreRunner.InPlaceMode.DELTA)))
                    .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("repository");
            assertThat(differences(tree(pgdata), ahead)).as("the directory after the refusal").isEmpty();

            // stopped cleanly with its WAL in the repository: restored where it is
            db.cluster.startServer();
            db.startStreaming(WalListener.NONE);
            stopCleanly(db);
            // the writer on a copy of the stopped directory, one file damaged there with the backup's size and time:
            // kept by the cheap check, rewritten with checksums
            Path copy = tmp.resolve("copy");
            Process cp = new ProcessBuilder("cp", "-a", pgdata.toString(), copy.toString()).inheritIO().start();
            assertThat(cp.waitFor()).isZero();
            Path damaged = copy.resolve(keep);
            FileTime time = Files.getLastModifiedTime(damaged);
            assertThat(time.toMillis()).as("keep's file as backed up").isEqualTo(manifest.files().stream()
                    .filter(e -> e.path().equals(keep)).findFirst().orElseThrow().mtime().toEpochMilli());
            try (FileChannel f = FileChannel.open(damaged, StandardOpenOption.WRITE)) {
                f.write(ByteBuffer.wrap("damage".getBytes()), Files.size(damaged) / 2 + 100);
            }
            Files.setLastModifiedTime(damaged, time);
            String damagedSha = sha256(damaged);
            Object damagedInode = Files.getAttribute(damaged, "unix:ino");
            DataDirectoryWriter writer = new DataDirectoryWriter(repo, new java.util.concurrent.atomic.AtomicReference<>(
                    dev.tidemark.engine.basebackup.BackupProgress.starting("test")), new Cancellation());
            write(writer, manifest, copy, RestoreRunner.InPlaceMode.DELTA);
            assertThat(sha256(damaged)).as("the cheap check keeps a file with the backup's size and time").isEqualTo(damagedSha);
            assertThat(Files.getAttribute(damaged, "unix:ino")).isEqualTo(damagedInode);
            write(writer, manifest, copy, RestoreRunner.InPlaceMode.DELTA_CHECKSUM);
            assertThat(piecesMatch(damaged, manifest, keep)).as("the damaged file, rewritten as backed up").isTrue();
            assertThat(Files.getLastModifiedTime(damaged)).isEqualTo(time);
            assertThat(writer.rewrittenFiles()).isPositive();

            String stray = Path.of(keep).resolveSibling("999999").toString();
            Files.writeString(pgdata.resolve(stray), "not in the backup");
            Map<String, Object> inodesBefore = inodes(pgdata, manifest);
            FileTime keepTime = Files.getLastModifiedTime(pgdata.resolve(keep));
            RestoreRunner.Result cheap = runner.run(request(backup, "r3", target, pgdata, db.cluster.port(), RestoreRunner.InPlaceMode.DELTA)
                    .withStreamSlot("tidemark_dip"));
            assertThat(TableChecksums.of(db.cluster)).as("the database as at the target").isEqualTo(atTarget);
            assertThat(cheap.movedAside()).isNull();
            try (Stream<Path> siblings = Files.list(pgdata.getParent())) {
                assertThat(siblings.map(p -> p.getFileName().toString())).as("no copy beside, and what the backup lacks deleted by the end")
                        .noneMatch(n -> n.contains(".tidemark-moved-") || n.contains(".tidemark-removed-"));
            }
            assertThat(pgdata.resolve(stray)).as("a file the backup does not have").doesNotExist();
            assertThat(pgdata.resolve(late)).as("a table created after the target").doesNotExist();
            assertThat(Files.getLastModifiedTime(pgdata.resolve(keep))).as("an unchanged table's file keeps its time").isEqualTo(keepTime);
            Map<String, Object> inodesAfter = inodes(pgdata, manifest);
            assertThat(inodesBefore).isNotEmpty();
            for (String relation : List.of(keep, relationPath(db.cluster, "keep_pkey"))) {
                assertThat(inodesAfter.get(relation)).as("inode of the untouched " + relation).isEqualTo(inodesBefore.get(relation));
            }
            // the restored server itself may recreate a few of them (a free-space map of a catalog, seen once)
            List<String> newInode = inodesBefore.keySet().stream().filter(p -> !inodesBefore.get(p).equals(inodesAfter.get(p))).toList();
            System.out.printf("untouched files: %d, of which with another inode after the restored server ran: %s%n", inodesBefore.size(), newInode);
            assertThat(newInode.size()).as("files with another inode").isLessThanOrEqualTo(inodesBefore.size() / 20);
            assertThat(cheap.keptFiles()).isPositive();
            assertThat(cheap.rewrittenFiles()).isPositive();
            assertThat(cheap.removedPaths()).isPositive();
            long allObjects = manifest.objects().stream().mapToLong(BackupManifest.BundleObject::storedBytes).sum();
            assertThat(cheap.downloadedBytes()).isLessThan(allObjects);
            assertThat(cheap.summary()).contains("files kept untouched").contains("rewritten").contains("paths removed")
                    .contains("running on, its own configuration reloaded (no restart needed)");
            // handed over without a restart: nothing of the recovery's left in what it reads, and a later pg_ctl restart
            // starts it with its own settings
            try (Connection c = db.cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select current_setting('restore_command'), current_setting('recovery_prefetch'),"
                         + " current_setting('log_line_prefix'), (select count(*) from pg_settings where pending_restart),"
                         + " current_setting('recovery_target_time')")) {
                rs.next();
                assertThat(rs.getString(1)).as("restore_command").isEmpty();
                assertThat(rs.getString(2)).as("recovery_prefetch, the server's own").isEqualTo("try");
                assertThat(rs.getString(3)).as("log_line_prefix, the server's own").isEqualTo("%m [%p] ");
                assertThat(rs.getInt(4)).as("settings pending a restart").isZero();
            }
            // its own archive follows the timeline switch: the new timeline's history, archived at the promotion
            Path history = db.cluster.archiveDirectory().resolve(String.format("%08X.history", cheap.timeline()));
            long archivedBy = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!Files.exists(history) && System.nanoTime() < archivedBy) {
                Thread.sleep(100);
            }
            assertThat(history).as("the new timeline's history in the server's own archive").exists();
            String opts = Files.readString(pgdata.resolve("postmaster.opts"));
            assertThat(opts).as("what pg_ctl restart reuses").doesNotContain("recovery_target").doesNotContain("archive_mode")
                    .doesNotContain("hot_standby").doesNotContain("logging_collector");
            Path restartLog = tmp.resolve("restart.log");
            db.cluster.server().run(List.of(db.cluster.server().binaries().tool("pg_ctl").toString(), "-D", pgdata.toString(), "-l",
                    restartLog.toString(), "-w", "-t", "60", "-m", "fast", "restart"), Duration.ofSeconds(90), "pg_ctl restart");
            try (Connection c = db.cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select current_setting('recovery_target_time'), current_setting('archive_mode'),"
                         + " pg_is_in_recovery()")) {
                rs.next();
                assertThat(rs.getString(1)).as("after pg_ctl restart").isEmpty();
                assertThat(rs.getString(2)).as("its own archive_mode").isEqualTo("on");
                assertThat(rs.getString(3)).isEqualTo("f");
            }
            assertThat(TableChecksums.of(db.cluster)).as("the database, restarted").isEqualTo(atTarget);
            System.out.printf("delta in place: %d files kept, %d rewritten, %d paths removed; %d of %d stored bytes downloaded%n",
                    cheap.keptFiles(), cheap.rewrittenFiles(), cheap.removedPaths(), cheap.downloadedBytes(), allObjects);
            // the stream's slot, made as the recovery began, keeps the new timeline's WAL from its branch through the
            // checkpoints that follow, until the stream is back to read it
            String branchSegment = WalSegment.containing(cheap.timeline(), Lsn.parse(cheap.reachedLsn()), SEGMENT).name();
            db.cluster.execute("checkpoint", "select pg_switch_wal()", "create table after_restore(id int)", "insert into after_restore values (1)", "checkpoint",
                    "select pg_switch_wal()", "checkpoint");
            String restart;
            try (Connection c = db.cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select restart_lsn::text from pg_replication_slots where slot_name = 'tidemark_dip'")) {
                assertThat(rs.next()).as("the stream's slot on the restored server").isTrue();
                restart = rs.getString(1);
            }
            // made in recovery it keeps WAL from the last restartpoint; made just after the promotion, from the checkpoint
            // that follows it: in either case from the branch's segment on (a physical slot keeps whole segments)
            assertThat(Lsn.parse(restart).value() / SEGMENT).as("the segment the slot keeps WAL from (restart %s, branch %s)", restart,
                    cheap.reachedLsn()).isLessThanOrEqualTo(Lsn.parse(cheap.reachedLsn()).value() / SEGMENT);
            assertThat(pgdata.resolve("pg_wal").resolve(branchSegment)).as("the new timeline's first segment, kept by the slot").exists();
            db.cluster.execute("select pg_drop_replication_slot('tidemark_dip')");

        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static void write(DataDirectoryWriter writer, BackupManifest manifest, Path dir, RestoreRunner.InPlaceMode mode)
            throws Exception {
        RestoreRunner.Request request = new RestoreRunner.Request("dip", "w", "b1", null, Optional.empty(), dir, 1, true, "postgres", 2,
                Duration.ofMinutes(1)).withInPlaceMode(mode);
        writer.write(request, manifest, dir, new Tablespaces(request, manifest, dir, null), new CreatedPaths(dir), null);
    }

    private static RestoreRunner.Request request(BaseBackupRunner.Result backup, String id, Instant target, Path pgdata, int port,
                                                 RestoreRunner.InPlaceMode mode) {
        return new RestoreRunner.Request("dip", id, "b1", backup.manifestSha256(), Optional.of(target), pgdata, port, true, "postgres", 2,
                Duration.ofMinutes(3)).withInPlaceMode(mode);
    }

    /**
     * Stops the server cleanly once the stream has caught up, so that the repository holds the WAL below its shutdown
     * checkpoint; again when a record came in between (the stream ends with the server). Then stops the stream.
     */
    private static void stopCleanly(StreamedCluster db) throws Exception {
        Path pgdata = db.cluster.dataDirectory();
        for (int attempt = 1; ; attempt++) {
            Lsn now;
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select pg_current_wal_insert_lsn()")) {
                r.next();
                now = Lsn.parse(r.getString(1));
            }
            assertThat(db.awaitStatus(s -> s.durableLsn() != null && Lsn.parse(s.durableLsn()).compareTo(now) >= 0, Duration.ofSeconds(60)))
                    .as("stream caught up").isTrue();
            db.cluster.stopServer();
            DeltaInPlace.ControlData control = DeltaInPlace.ControlData.parse(db.cluster.server().run(List.of("env", "LC_ALL=C",
                    db.cluster.server().binaries().tool("pg_controldata").toString(), "-D", pgdata.toString()), Duration.ofSeconds(30),
                    "pg_controldata"));
            Lsn needed = DeltaInPlace.dataEnd(control.checkpoint(), SEGMENT);
            if (Lsn.parse(db.status().durableLsn()).compareTo(needed) >= 0 || attempt == 3) {
                break;
            }
            db.cluster.startServer();
        }
        db.stopStreaming();
    }

    /** The inode of every file of the backup that the directory still has with the backup's size and time. */
    private static Map<String, Object> inodes(Path pgdata, BackupManifest manifest) throws Exception {
        Map<String, Object> inodes = new TreeMap<>();
        for (BackupManifest.FileEntry e : manifest.files()) {
            Path p = pgdata.resolve(e.path());
            if (e.type() != BackupManifest.FileEntry.FILE || e.fileOffset() != 0 || e.path().equals("postgresql.auto.conf")
                    || !Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            long size = manifest.files().stream().filter(x -> x.path().equals(e.path())).mapToLong(x -> x.fileOffset() + x.size()).max()
                    .orElse(0);
            if (Files.size(p) == size && Files.getLastModifiedTime(p).toMillis() == e.mtime().toEpochMilli()) {
                inodes.put(e.path(), Files.getAttribute(p, "unix:ino"));
            }
        }
        return inodes;
    }

    private static boolean piecesMatch(Path file, BackupManifest manifest, String path) throws Exception {
        byte[] bytes = Files.readAllBytes(file);
        for (BackupManifest.FileEntry e : manifest.files()) {
            if (e.path().equals(path)) {
                byte[] piece = java.util.Arrays.copyOfRange(bytes, (int) e.fileOffset(), (int) (e.fileOffset() + e.size()));
                if (!HexFormat.of().formatHex(Codec.sha256().digest(piece)).equals(e.sha256())) {
                    return false;
                }
            }
        }
        return true;
    }

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(Codec.sha256().digest(Files.readAllBytes(file)));
    }

    private static List<String> differences(Map<String, String> a, Map<String, String> b) {
        java.util.Set<String> keys = new java.util.TreeSet<>(a.keySet());
        keys.addAll(b.keySet());
        return keys.stream().filter(k -> !java.util.Objects.equals(a.get(k), b.get(k))).toList();
    }

    /** Every path under root: its SHA-256 (files), mode, time and inode. */
    private static Map<String, String> tree(Path root) throws Exception {
        Map<String, String> tree = new TreeMap<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.filter(p -> !p.equals(root)).toList()) {
                String what = Files.isSymbolicLink(p) ? "-> " + Files.readSymbolicLink(p)
                        : PosixFilePermissions.toString(Files.getPosixFilePermissions(p)) + " " + Files.getAttribute(p, "unix:ino")
                        + (Files.isRegularFile(p) ? " " + sha256(p) + " " + Files.getLastModifiedTime(p) : "");
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
