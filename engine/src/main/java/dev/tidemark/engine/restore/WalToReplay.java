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
 * (WalSpool) and read (WalScan). For a time target the read ends before PostgreSQL starts (while the files are
 * written): it finds the point the recovery stops at (the recovery target LSN). For the latest moment there is no such
 * point to find: PostgreSQL starts once the files are written and the read runs beside the replay, which is offered
 * only the segments the read has passed, so its checks (a tablespace the WAL creates, a hole in the archive) still
 * come before the replay of what they concern, and a failed check aborts the recovery. A hole fails the restore.
 */
final class WalToReplay {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private WalToReplay() {
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
        if (request.targetTime().isEmpty()) {
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
     * failure is the one reported. For a time target the read has ended when this returns; for the latest moment it goes
     * on (streamed): the spool offers the recovery only what it has read, a tablespace the WAL creates is dealt with
     * (Tablespaces.guard) as soon as it is read, and a failed read aborts the recovery through the spool.
     */
    static Reading readWhileWriting(RestoreRunner.Request request, BackupManifest manifest, WalSpool wal, Tablespaces tablespaces,
                                    DataDirectoryWriter files, FileWriting writing) throws IOException, InterruptedException {
        boolean streamed = request.targetTime().isEmpty();
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
                WalScan.Result read = scan(request, manifest, wal, streamed ? tablespaces : null);
                Scanned scanned = new Scanned(read, stopPoint(request, manifest, read), System.nanoTime() - started);
                if (!streamed && scanned.stopAt().isPresent() && read.stoppedAt().isPresent()) {
                    // the recovery stops at a record the scan read whole: nothing after the segment it ends in (and the
                    // next, for PostgreSQL's read-ahead) is needed, however much later WAL the repository holds
                    wal.fetchNoFurtherThan(WalSegment.containing(1, read.readTo().plus(-1), manifest.walSegmentSize()).number() + 1);
                }
                if (!request.inPlace()) { // refused beside: known before the files are all written
                    tablespaces.guard(read, scanned.stopAt());
                }
                if (streamed) {
                    wal.offerAll();
                    log.info("restore {}: the WAL read beside the replay ended; all of it is offered to the recovery", request.restoreId());
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
     * Reads the WAL the recovery will replay (WalScan), from the backup's start along the timelines recovery follows,
     * up to the first commit after the target (or the end of the WAL for the latest moment).
     */
    private static WalScan.Result scan(RestoreRunner.Request request, BackupManifest manifest, WalSpool wal, Tablespaces streamedTo)
            throws IOException, InterruptedException {
        long started = System.nanoTime();
        Optional<Map.Entry<Integer, String>> newest = wal.newestHistory();
        List<WalScan.Timeline> path = WalScan.path(manifest.timeline(), newest.map(Map.Entry::getValue),
                newest.map(Map.Entry::getKey).orElse(manifest.timeline()));
        WalScan.Result result = new WalScan(new WalScan.Segments() {
            @Override
            public Optional<Path> segment(String name) throws IOException, InterruptedException {
                if (streamedTo != null) {
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
            public Set<String> names() {
                return wal.segmentNames();
            }
        }, path, manifest.walSegmentSize()).scan(Lsn.parse(manifest.startLsn()), request.targetTime());
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
            // PostgreSQL's time target would fail here too ("before consistent recovery point"): never raise the stop
            throw new IOException("target " + request.targetTime().get() + " lies before base backup " + manifest.backupId()
                    + " is consistent: a commit after the target (at " + scan.stoppedAt().get() + ") precedes the backup's end ("
                    + backupEnd + "); restore to a later time, or to a time the window shows an earlier backup for");
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
