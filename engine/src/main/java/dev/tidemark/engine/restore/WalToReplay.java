package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/**
 * The WAL a restore replays: the archived objects from the backup's start on, fetched into the local spool
 * (WalSpool) and read (WalScan). On PostgreSQL 13 and later the read runs beside the replay (streamed): PostgreSQL
 * starts once the files are written and is offered only the segments the read has passed, so its checks (a tablespace
 * the WAL creates, a hole in the archive) come before the replay of what they concern, and a failed check aborts the
 * recovery. For a time target the read is gated (WalScan.gated): the replay is offered only what is safe to replay
 * before the stop is known, and the segment holding the stop is offered cut there. Before 13 (and with
 * {@value #STREAMED_TARGET_PROPERTY}=false), the read of a time target ends before PostgreSQL starts (while the files are
 * written) and gives the recovery target LSN. A hole fails the restore.
 */
final class WalToReplay {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private WalToReplay() {
    }

    /**
     * With {@value #STREAMED_TARGET_PROPERTY}=false a time target's WAL is read to its stop before PostgreSQL starts (as
     * before 2026-12-06), for comparisons; by default it is read beside the replay (PostgreSQL 13 and later).
     */
    static final String STREAMED_TARGET_PROPERTY = "tidemark.restore.streamed-time-target";

    /**
     * Whether the WAL is read beside the replay, which then ends where the spool's WAL ends, promoted as soon as it
     * has no more (a standby asked to promote: RecoverySettings, Recovery): the latest moment, and a time target
     * (gated), from PostgreSQL 13 on (a standby's promotion ends it there). Before 13 a time target's read ends before
     * the start, and the latest moment's recovery ends by itself at the end of the WAL.
     */
    static boolean streamed(RestoreRunner.Request request, BackupManifest manifest) {
        return request.targetTime().isEmpty()
                || manifest.serverVersionNum() >= 130000 && !"false".equals(System.getProperty(STREAMED_TARGET_PROPERTY));
    }

    /** Whether the recovery runs as a standby promoted where its WAL ends (streamed, PostgreSQL 13 and later). */
    static boolean endsAsPromotedStandby(RestoreRunner.Request request, BackupManifest manifest) {
        return streamed(request, manifest) && manifest.serverVersionNum() >= 130000;
    }

    /** The WAL read before the recovery, and where a time target stops in it (empty: at the end, or by the time). */
    record Scanned(WalScan.Result scan, Optional<Lsn> stopAt, long readNanos) {
    }

    /** The read of the WAL: ended before the recovery starts, or going on beside it (streamed). */
    static final class Reading {
        private final Future<Scanned> scanning;
        private final boolean streamed;

        private Reading(Future<Scanned> scanning, boolean streamed) {
            this.scanning = scanning;
            this.streamed = streamed;
        }

        /** The read goes on beside the recovery, which replays only what it has read. */
        boolean streamed() {
            return streamed;
        }

        /** Where a time target stops (the read ended for a target); empty for the latest moment. */
        Optional<Lsn> stopAt() throws IOException, InterruptedException {
            return streamed ? Optional.empty() : done().stopAt();
        }

        /** The read's result, once it has ended (a refusal keeps its kind). */
        Scanned done() throws IOException, InterruptedException {
            try {
                return scanning.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException r) {
                    throw r;
                }
                throw cause instanceof IOException io ? io : new IOException(cause.getMessage(), cause);
            }
        }

        /**
         * A time target read beside the replay, asked once the recovery has ended: whether the read found a commit after
         * the target (else the state at the target is the end of the archive). True when that cannot be told.
         */
        boolean commitAfterTarget() {
            if (!scanning.isDone()) {
                return true;
            }
            try {
                return done().scan().stoppedAt().isPresent();
            } catch (IOException | RuntimeException e) {
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return true;
            }
        }

        /** Streamed: the read's failure, when it has failed (what aborted the recovery); nothing while it runs or went well. */
        void rethrowFailure() throws IOException, InterruptedException {
            if (scanning.isDone()) {
                done();
            }
        }

        void cancel() {
            scanning.cancel(true);
        }
    }

    /** The writing of the files, done while the WAL is read; the scan stops it when it fails. */
    interface FileWriting {
        void run() throws IOException, InterruptedException;
    }

    /** WAL objects of the backup's chain from the segment holding its start onwards, and every timeline history. */
    static List<ObjectInfo> objects(Repository repository, RestoreRunner.Request request, BackupManifest manifest) throws IOException {
        String prefix = repository.layout().walPrefix(request.databaseId(), manifest.chain());
        long first = WalSegment.containing(1, Lsn.parse(manifest.startLsn()), manifest.walSegmentSize()).number();
        try (Stream<ObjectInfo> all = repository.store().list(prefix)) {
            return all.filter(o -> {
                String n = name(o.key());
                if (RepositoryLayout.TIMELINE_HISTORY.matcher(n).matches()) {
                    return true;
                }
                if (n.length() < 24 || !RepositoryLayout.WAL_SEGMENT.matcher(n.substring(0, 24)).matches()) {
                    return false;
                }
                return WalSegment.parse(n.substring(0, 24), manifest.walSegmentSize()).number() >= first;
            }).toList();
        }
    }

    private static String name(String key) {
        return key.substring(key.lastIndexOf('/') + 1);
    }

    /**
     * How many workers fetch the WAL: as many as the files are written with, unless the system property
     * {@value #FETCH_WORKERS_PROPERTY} says otherwise (to measure more of them: a fetch waits on the disk as well as the CPU).
     */
    static final String FETCH_WORKERS_PROPERTY = "tidemark.restore.wal-fetch-workers";

    /** The spool of the WAL objects, started: fetching with as many workers as the files are written with. */
    static WalSpool openSpool(Repository repository, RestoreRunner.Request request, BackupManifest manifest, Path spool,
                              ServerUser user) throws IOException, InterruptedException {
        // for a time target PostgreSQL starts once the scan has read to the stop, and replays only what it read: the fetch
        // keeps a few segments (two per worker) ahead of the scan, not the 512 MiB a recovery reading beside the fetch
        // is given, which before the scan found the stop fetched WAL beyond it for nothing, beside the files
        WalSpool wal = new WalSpool(repository, spool, objects(repository, request, manifest), manifest.walSegmentSize(),
                Math.max(1, Integer.getInteger(FETCH_WORKERS_PROPERTY, request.workers())), request.restoreId(), user,
                request.targetTime().isPresent() ? 0 : WalSpool.LOOKAHEAD_BYTES);
        if (streamed(request, manifest)) {
            // the latest moment: the scan reads beside the replay, which must never run ahead of its checks (a tablespace
            // the WAL creates, refused beside before the replay creates it at the source's location): from the first
            // segment on, the recovery is offered only what the scan has read past. Before the fetch starts, or the first
            // segments would be offered as they came (never set before: a suite run saw a copy's replay write into the
            // source's tablespace before the scan refused it)
            wal.offerAsRead();
        }
        wal.start(); // timeline histories now; the segments in the background
        return wal;
    }

    /**
     * Reads the WAL to replay in the background while writing runs here. A copy beside learns here, before the files
     * are all written, that the WAL creates a tablespace (refused). A failed scan stops the file writers, and its
     * failure is the one reported. Streamed (see {@link #streamed}) the read goes on when this returns: the spool offers
     * the recovery only what it has read (gated, for a time target: what it found safe to replay), a tablespace the WAL
     * creates is dealt with (Tablespaces.guard) before the replay may reach it, and a failed read aborts the recovery
     * through the spool. Otherwise (a time target before PostgreSQL 13) the read has ended when this returns.
     */
    static Reading readWhileWriting(RestoreRunner.Request request, BackupManifest manifest, WalSpool wal, Tablespaces tablespaces,
                                    DataDirectoryWriter files, FileWriting writing) throws IOException, InterruptedException {
        boolean streamed = streamed(request, manifest);
        boolean gated = streamed && request.targetTime().isPresent();
        // set by the scan before it stops the file writers, so a writer's interruption is not taken for the reason
        AtomicBoolean scanStoppedWriters = new AtomicBoolean();
        ExecutorService scanner = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "wal-scan-" + request.restoreId());
            t.setDaemon(true);
            return t;
        });
        Future<Scanned> scanning = scanner.submit(() -> {
            try {
                long started = System.nanoTime();
                WalScan.Result read = scan(request, manifest, wal, streamed ? tablespaces : null, gated);
                if (streamed) {
                    endReplay(request, manifest, wal, read);
                    return new Scanned(read, Optional.empty(), System.nanoTime() - started);
                }
                Scanned scanned = new Scanned(read, stopPoint(request, manifest, read), System.nanoTime() - started);
                if (!streamed && scanned.stopAt().isPresent() && read.stoppedAt().isPresent()) {
                    // the recovery stops at a record the scan read whole: nothing after the segment it ends in (and the
                    // next, for PostgreSQL's read-ahead) is needed, however much later WAL the repository holds
                    wal.fetchNoFurtherThan(WalSegment.containing(1, read.readTo().plus(-1), manifest.walSegmentSize()).number() + 1);
                }
                if (!request.inPlace()) { // refused beside: known before the files are all written
                    tablespaces.guard(read, scanned.stopAt());
                }
                return scanned;
            } catch (IOException | RuntimeException e) {
                scanStoppedWriters.set(true);
                files.stop(); // the restore fails: writing the rest of the files would be for nothing
                if (streamed) {
                    wal.abort("reading the WAL failed: " + e.getMessage()); // a recovery already running aborts
                }
                throw e;
            }
        });
        scanner.shutdown();
        Reading reading = new Reading(scanning, streamed);
        boolean handedOn = false;
        try {
            try {
                writing.run();
            } catch (IOException | RuntimeException e) {
                if (scanStoppedWriters.get() || scanning.isDone()) {
                    // the scan's failure, which stopped the writers, is the reason to report; it is thrown the
                    // moment after the writers were stopped, so waiting for it is short
                    reading.done();
                }
                throw e;
            }
            if (streamed) {
                reading.rethrowFailure(); // failed already: no recovery to start
                handedOn = true;
                return reading;
            }
            reading.done();
            return reading;
        } finally {
            if (!handedOn) {
                scanning.cancel(true);
            }
        }
    }

    /**
     * The read beside the replay has ended: where the replay ends is known. It must not end before the backup is
     * consistent (a standby would wait there for ever): the restore fails instead. The latest moment: all of the WAL is
     * offered. A time target: up to the gated scan's stop, the segment holding it cut there (WalSpool.endAt).
     */
    private static void endReplay(RestoreRunner.Request request, BackupManifest manifest, WalSpool wal, WalScan.Result read)
            throws IOException {
        Lsn backupEnd = Lsn.parse(manifest.stopLsn());
        Lsn end = read.replayStop().orElse(read.end());
        if (end.compareTo(backupEnd) < 0) {
            if (read.stoppedAt().isPresent()) {
                throw beforeConsistent(request, manifest, read.stoppedAt().get());
            }
            throw new IOException("the archived WAL ends at " + read.end() + ", before base backup " + manifest.backupId()
                    + " is consistent (" + backupEnd + "): the backup's own WAL is incomplete in the repository; restore from"
                    + " another backup (see 'tidemark backups " + request.databaseId() + "') and check the repository with 'tidemark verify'");
        }
        if (read.replayStop().isEmpty()) {
            wal.offerAll();
            log.info("restore {}: the WAL read beside the replay ended; all of it is offered to the recovery", request.restoreId());
            return;
        }
        if (read.unreadableCommit()) {
            log.warn("restore {}: a commit record in the WAL could not be read; the replay stops before it if no later commit at or"
                    + " before the target follows it", request.restoreId());
        }
        log.info("restore {}: the WAL read beside the replay ended at {}: {}", request.restoreId(), read.end(),
                read.stoppedAt().isPresent() ? "the first commit after the target" : "no commit after the target in the archive");
        wal.endAt(read.replayStop().get());
    }

    /**
     * Reads the WAL the recovery will replay (WalScan), from the backup's start along the timelines recovery follows,
     * up to the first commit after the target (or the end of the WAL for the latest moment). Gated (a time target read
     * beside the replay), segments are offered as the scan finds them safe to replay.
     */
    private static WalScan.Result scan(RestoreRunner.Request request, BackupManifest manifest, WalSpool wal, Tablespaces streamedTo,
                                       boolean gated) throws IOException, InterruptedException {
        long started = System.nanoTime();
        Optional<Map.Entry<Integer, String>> newest = wal.newestHistory();
        List<WalScan.Timeline> path = WalScan.path(manifest.timeline(), newest.map(Map.Entry::getValue),
                newest.map(Map.Entry::getKey).orElse(manifest.timeline()));
        WalScan scanner = new WalScan(new WalScan.Segments() {
            @Override
            public Optional<Path> segment(String name) throws IOException, InterruptedException {
                if (streamedTo != null && !gated) {
                    // reading this one means every segment before it was read: the replay may have them
                    wal.readUpTo(WalSegment.parse(name, manifest.walSegmentSize()).number());
                }
                return wal.segment(name);
            }

            @Override
            public void tablespaceCreated(WalScan.TablespaceCreation creation) throws IOException {
                if (streamedTo != null) {
                    // before the replay may read the segment that ends the record: refused beside, made ready in place
                    streamedTo.guard(List.of(creation), Optional.empty());
                }
            }

            @Override
            public void replayableBelow(Lsn lsn) throws IOException {
                wal.readUpTo(lsn.value() / manifest.walSegmentSize());
            }

            @Override
            public Set<String> names() {
                return wal.segmentNames();
            }
        }, path, manifest.walSegmentSize());
        WalScan.Result result = (gated ? scanner.gated(Lsn.parse(manifest.stopLsn())) : scanner)
                .scan(Lsn.parse(manifest.startLsn()), request.targetTime());
        if (result.hole().isPresent()) {
            throw new IOException("WAL segment " + result.hole().get() + " is missing from the repository (or unreadable from where the"
                    + " WAL breaks off in it) although later WAL is there: the WAL to replay breaks off at it, short of " + request.targetTime().map(Instant::toString).orElse("the end of the archive")
                    + "; restore to a time before it (see 'tidemark window " + request.databaseId() + "') and find out what removed"
                    + " it from the repository");
        }
        log.info("restore {}: read {} WAL records from {} to {} in {} ms{}{}", request.restoreId(), result.records(), manifest.startLsn(),
                result.end(), (System.nanoTime() - started) / 1_000_000,
                result.lastCommitTime().map(t -> "; last commit at or before the target: " + t + " (ends at "
                        + result.lastCommitEnd().orElseThrow() + ")").orElse(""),
                result.tablespaces().isEmpty() ? "" : "; tablespaces created: " + result.tablespaces());
        return result;
    }

    /**
     * Where the recovery stops for a time target: right after the last commit at or before it (never before the
     * backup's own end, where the copy becomes consistent). Empty for the latest moment, or when the scan did not reach
     * the backup's end (then PostgreSQL's time target is used, as it was before the scan existed).
     */
    private static Optional<Lsn> stopPoint(RestoreRunner.Request request, BackupManifest manifest, WalScan.Result scan) throws IOException {
        if (request.targetTime().isEmpty()) {
            return Optional.empty();
        }
        Lsn backupEnd = Lsn.parse(manifest.stopLsn());
        if (scan.stoppedAt().isPresent() && scan.stoppedAt().get().compareTo(backupEnd) < 0) {
            throw beforeConsistent(request, manifest, scan.stoppedAt().get()); // never raise the stop past the target
        }
        if (scan.unreadableCommit()) {
            log.warn("restore {}: a commit record in the WAL could not be read; stopping by the target time instead",
                    request.restoreId());
            return Optional.empty();
        }
        if (scan.end().compareTo(backupEnd) < 0 && scan.stoppedAt().isEmpty()) {
            log.warn("restore {}: the WAL read ended at {}, before the backup's end {}; stopping by the target time instead",
                    request.restoreId(), scan.end(), backupEnd);
            return Optional.empty();
        }
        Lsn stop = scan.lastCommitEnd().filter(l -> l.compareTo(backupEnd) > 0).orElse(backupEnd);
        return Optional.of(stop);
    }

    /** A target whose first commit after it precedes the backup's end: PostgreSQL's time target fails there too. */
    private static IOException beforeConsistent(RestoreRunner.Request request, BackupManifest manifest, Lsn commitAfter) {
        return new IOException("target " + request.targetTime().orElseThrow() + " lies before base backup " + manifest.backupId()
                + " is consistent: a commit after the target (at " + commitAfter + ") precedes the backup's end ("
                + manifest.stopLsn() + "); restore to a later time, or to a time the window shows an earlier backup for");
    }

    /**
     * PostgreSQL reports the end of the archive the same way whether it is the end or a hole in it: the recovery
     * stopped short when it asked for a segment the archive lacks while holding later ones.
     */
    static void requireNoHole(WalSpool wal, RestoreRunner.Request request) throws IOException {
        Optional<String> missing = wal.missingSegment();
        if (missing.isPresent()) {
            throw new IOException("WAL segment " + missing.get() + " is missing from the repository although later WAL is there:"
                    + " the recovery stopped at it, short of " + request.targetTime().map(Instant::toString).orElse("the end of the archive")
                    + "; restore to a time before it (see 'tidemark window " + request.databaseId() + "') and find out what removed"
                    + " it from the repository");
        }
    }
}
