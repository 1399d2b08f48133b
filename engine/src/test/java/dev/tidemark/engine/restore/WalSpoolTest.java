package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The restore's WAL spool fetches a bounded way ahead of what is asked for (by the WAL scan, or by PostgreSQL's
 * restore_command), so a restore to a time early in a long window does not fetch, or keep on disk, the whole window.
 */
class WalSpoolTest {
    private static final long SEGMENT = 16L << 20;

    @TempDir
    Path tmp;

    @Test
    void theFetchRunsABoundedWayAheadOfWhatTheScanAndTheRestoreCommandAskFor() throws Exception {
        Path root = tmp.resolve("repo");
        Repository repo = TestRepositories.file(root);
        List<String> names = segments(repo, 40);
        List<ObjectInfo> objects = objects(repo);
        Path dir = tmp.resolve("spool");
        ServerUser.detect().ownOne(tmp);
        // two workers, four segments of margin
        try (WalSpool spool = new WalSpool(repo, dir, objects, SEGMENT, 2, "t", ServerUser.detect(), 4 * SEGMENT)) {
            spool.start();
            awaitFetched(spool, 4); // nothing asked yet: the margin, positions 0-3 of the replay order
            Thread.sleep(300);
            assertThat(spool.fetched()).as("fetched with nothing asked for").isEqualTo(4);
            assertThat(spooled(dir)).hasSize(4);
            // decrypted WAL: as private as pg_wal
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
            for (Path segment : spooled(dir)) {
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(segment))).as(segment.toString()).isEqualTo("rw-------");
            }

            // the scan reads segment 10 (position 9): the fetch goes on to position 13, no further
            assertThat(spool.segment(names.get(9))).isPresent();
            awaitFetched(spool, 14);
            Thread.sleep(300);
            assertThat(spool.fetched()).isEqualTo(14);
            assertThat(Files.exists(dir.resolve(WalSpool.DONE))).isFalse();

            // PostgreSQL asks through the restore_command for position 20: it waits until the fetch brings it
            Path into = tmp.resolve("pg_wal");
            Files.createDirectories(into);
            ServerUser.detect().ownOne(into);
            Process p = new ProcessBuilder(ServerUser.detect().command(List.of(dir.resolve(WalSpool.SCRIPT).toString(),
                    names.get(20), into.resolve("RECOVERYXLOG").toString()))).redirectErrorStream(true).start();
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("restore_command returned").isTrue();
            assertThat(p.exitValue()).as(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();
            assertThat(Files.readString(into.resolve("RECOVERYXLOG"))).isEqualTo("segment 21");
            awaitFetched(spool, 25);
            Thread.sleep(300);
            assertThat(spool.fetched()).isEqualTo(25);

            // the last segment asked for: all are fetched, and the spool says so
            assertThat(spool.segment(names.get(39))).isPresent();
            awaitFetched(spool, 40);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!Files.exists(dir.resolve(WalSpool.DONE)) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(dir.resolve(WalSpool.DONE)).exists();
        }
    }

    @Test
    void onceTheScanHasReadTheStopNothingBeyondItIsFetchedAndTheRestoreCommandSaysSoAtOnce() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        List<String> names = segments(repo, 40);
        List<ObjectInfo> objects = objects(repo);
        Path dir = tmp.resolve("spool");
        ServerUser.detect().ownOne(tmp);
        try (WalSpool spool = new WalSpool(repo, dir, objects, SEGMENT, 2, "t", ServerUser.detect(), 4 * SEGMENT)) {
            spool.start();
            assertThat(spool.segment(names.get(9))).isPresent(); // the scan reads segment 10 and stops in it
            awaitFetched(spool, 14);
            spool.fetchNoFurtherThan(11);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!Files.exists(dir.resolve(WalSpool.DONE)) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(dir.resolve(WalSpool.DONE)).as("all the recovery needs is in").exists();
            Thread.sleep(300);
            assertThat(spool.fetched()).as("nothing fetched beyond the margin there was").isEqualTo(14);

            Path into = tmp.resolve("pg_wal");
            Files.createDirectories(into);
            ServerUser.detect().ownOne(into);
            // PostgreSQL's read-ahead asks for a segment after the stop: told at once there is none (exit 1), no wait
            Process p = new ProcessBuilder(ServerUser.detect().command(List.of(dir.resolve(WalSpool.SCRIPT).toString(),
                    names.get(20), into.resolve("RECOVERYXLOG").toString()))).redirectErrorStream(true).start();
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("answered without waiting for a fetch that never comes").isTrue();
            assertThat(p.exitValue()).isEqualTo(1);
            // one it needs is there
            p = new ProcessBuilder(ServerUser.detect().command(List.of(dir.resolve(WalSpool.SCRIPT).toString(),
                    names.get(10), into.resolve("RECOVERYXLOG").toString()))).redirectErrorStream(true).start();
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isZero();
            assertThat(Files.readString(into.resolve("RECOVERYXLOG"))).isEqualTo("segment 11");
        }
    }

    @Test
    void offeredAsReadTheRestoreCommandGetsOnlyWhatTheScanHasReadPastAndAnAbortFailsIt() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        List<String> names = segments(repo, 6);
        List<ObjectInfo> objects = objects(repo);
        Path dir = tmp.resolve("spool");
        ServerUser.detect().ownOne(tmp);
        Path into = tmp.resolve("pg_wal");
        Files.createDirectories(into);
        ServerUser.detect().ownOne(into);
        try (WalSpool spool = new WalSpool(repo, dir, objects, SEGMENT, 2, "t", ServerUser.detect())) {
            spool.offerAsRead();
            spool.start();
            awaitFetched(spool, 6);
            assertThat(spool.segment(names.get(0))).as("the scan reads what is fetched").isPresent();
            // fetched, not yet read past: PostgreSQL waits
            Process waiting = restoreCommand(dir, names.get(1), into);
            assertThat(waiting.waitFor(500, TimeUnit.MILLISECONDS)).as("restore_command waits for the scan").isFalse();
            assertThat(spooled(dir)).isEmpty();
            spool.readUpTo(3); // the scan reads segment 3: segments 1 and 2 may be replayed
            assertThat(waiting.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(waiting.exitValue()).isZero();
            assertThat(Files.readString(into.resolve("RECOVERYXLOG"))).isEqualTo("segment 2");
            assertThat(spooled(dir)).hasSize(2);
            assertThat(dir.resolve(WalSpool.DONE)).doesNotExist(); // "all in" would end the recovery at segment 3
            assertThat(spool.waits()[0]).as("the wait is counted").isEqualTo(1);

            // the scan fails: the next request is fatal to the recovery, not the end of the WAL
            Process aborted = restoreCommand(dir, names.get(3), into);
            spool.abort("reading the WAL failed: a test");
            assertThat(aborted.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(aborted.exitValue()).isEqualTo(126);
        }
        // (this one writes each segment out to disk behind the fetch: offered once written out, the same to PostgreSQL)
        System.setProperty(WalSpool.SYNC_BEHIND_PROPERTY, "true");
        WalSpool behind;
        try {
            behind = new WalSpool(repo, tmp.resolve("spool2"), objects, SEGMENT, 2, "t", ServerUser.detect());
        } finally {
            System.clearProperty(WalSpool.SYNC_BEHIND_PROPERTY);
        }
        try (WalSpool spool = behind) {
            spool.offerAsRead();
            spool.start();
            awaitFetched(spool, 6);
            spool.offerAll(); // the scan ended well: everything, and the end of the WAL after it
            Process last = restoreCommand(tmp.resolve("spool2"), names.get(5), into);
            assertThat(last.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(last.exitValue()).isZero();
            assertThat(tmp.resolve("spool2").resolve(WalSpool.DONE)).exists();
            Process beyond = restoreCommand(tmp.resolve("spool2"), new WalSegment(1, 7, SEGMENT).name(), into);
            assertThat(beyond.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(beyond.exitValue()).as("the end of the WAL").isEqualTo(1);
        }
    }

    private static Process restoreCommand(Path dir, String name, Path into) throws Exception {
        return new ProcessBuilder(ServerUser.detect().command(List.of(dir.resolve(WalSpool.SCRIPT).toString(), name,
                into.resolve("RECOVERYXLOG").toString()))).redirectErrorStream(true).start();
    }

    @Test
    void theDiskCheckCountsWholeSegmentsUpToTheFirstStoredWellAfterTheTarget() {
        Instant t0 = Instant.parse("2026-12-01T10:00:00Z");
        List<ObjectInfo> objects = new ArrayList<>();
        for (int i = 1; i <= 100; i++) { // one segment stored every minute, each 1 MiB compressed
            objects.add(new ObjectInfo("db/wal/" + new WalSegment(1, i, SEGMENT).name(), 1 << 20, t0.plus(Duration.ofMinutes(i))));
        }
        objects.add(new ObjectInfo("db/wal/00000002.history", 42, t0));
        // no target: every segment, whole
        assertThat(WalSpool.spoolBytes(objects, SEGMENT, Optional.empty())).isEqualTo(100 * SEGMENT + 42);
        // a target at minute 10: segments stored up to minute 15 (the margin), the first after it and one more, and the
        // fetch's margin beyond
        long margin = WalSpool.LOOKAHEAD_BYTES / SEGMENT;
        assertThat(WalSpool.spoolBytes(objects, SEGMENT, Optional.of(t0.plus(Duration.ofMinutes(10)))))
                .isEqualTo((17 + margin) * SEGMENT + 42);
        // a repository copied from elsewhere: every segment stored after the target says nothing of where it lies: all
        List<ObjectInfo> copied = objects.stream().map(o -> new ObjectInfo(o.key(), o.size(), t0.plus(Duration.ofDays(2)))).toList();
        assertThat(WalSpool.spoolBytes(copied, SEGMENT, Optional.of(t0.plus(Duration.ofMinutes(10))))).isEqualTo(100 * SEGMENT + 42);
        // a target after everything: all of it
        assertThat(WalSpool.spoolBytes(objects, SEGMENT, Optional.of(t0.plus(Duration.ofDays(1))))).isEqualTo(100 * SEGMENT + 42);
    }

    private static List<Path> spooled(Path dir) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().matches("[0-9A-F]{24}")).toList();
        }
    }

    /** Segments 1 to count of timeline 1 under wal/: small stand-ins (the spool copies what is stored; only a partial segment is padded). */
    private static List<String> segments(Repository repo, int count) throws Exception {
        List<String> names = new ArrayList<>();
        for (int i = 1; i <= count; i++) {
            String name = new WalSegment(1, i, SEGMENT).name();
            names.add(name);
            repo.putEncoded("wal/" + name, new ByteArrayInputStream(("segment " + i).getBytes(StandardCharsets.US_ASCII)));
        }
        return names;
    }

    private static List<ObjectInfo> objects(Repository repo) throws Exception {
        try (Stream<ObjectInfo> all = repo.store().list("wal/")) {
            return all.toList();
        }
    }

    private static void awaitFetched(WalSpool spool, int count) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (spool.fetched() < count && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(spool.fetched()).as("fetched").isGreaterThanOrEqualTo(count);
    }
}
