package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.Repository;
import org.postgresql.PGConnection;
import org.postgresql.replication.LogSequenceNumber;
import org.postgresql.replication.PGReplicationStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Streams one database's WAL over a physical replication slot into the repository: whole segments as they
 * complete, the current one as a partial segment every few seconds (and whenever half a segment arrived). The slot's
 * flush position moves only after a segment is durable in the repository, so the server keeps every byte that is not
 * yet safe. In synchronous mode ({@link WalStreamSettings#synchronous()}) whatever arrived is made durable at once (one
 * upload for all that arrived meanwhile: a group commit) and reported flushed right after, so that a server that lists
 * the stream in synchronous_standby_names acknowledges a commit only once it is in the repository. A backlog of completed segments is read from the primary's own pg_wal when its data directory is readable
 * here ({@link LocalWal}), with the same in-order acknowledgement.
 * <p>
 * This class is the story of a stream; its parts are the {@link ReplicationSlot}, the {@link SegmentAssembly} and
 * {@link SegmentUploads}, the {@link Timelines} it follows, the {@link ServerClock} that dates WAL, and the
 * {@link CatchUp} from pg_wal.
 */
public final class WalStreamer implements Runnable, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class);
    /**
     * Between polls of the replication connection: the shortest while bytes arrive, growing to the longest when quiet. A
     * poll late by up to a second delays what a reader sees by at most that: the first bytes after a quiet spell are uploaded
     * as soon as the stream has read what the server sent.
     */
    private static final long MIN_POLL_MILLIS = 10;
    private static final long MAX_POLL_MILLIS = 1000;
    /**
     * A stream that received no WAL since its last clock sample samples at most this often instead of every sample
     * interval: on an idle database the window's end then trails the server's clock by up to this much (a sample only
     * ever dates WAL that is durable, so the window never claims more than it holds).
     */
    static final Duration IDLE_SAMPLE_INTERVAL = Duration.ofSeconds(10);
    /**
     * In synchronous mode the server's commits wait for the stream: it polls from 50 microseconds up to 5 ms when quiet,
     * and makes what it received durable once nothing more is pending, or after at most 20 ms of a continuous flow.
     */
    private static final long SYNC_MIN_POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(50);
    private static final long SYNC_MAX_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
    private static final long SYNC_GROUP_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    private final String databaseId;
    private final PgConnections source;
    private final WalStreamSettings settings;
    private final WalListener listener;
    private final ServerClock clock;
    private final StreamProgress progress;
    private final ReplicationSlot slot;
    private final Timelines timelines;
    private final SegmentUploads uploads;
    private final CatchUp catchUp;
    private volatile boolean stopped;
    private volatile Thread thread;
    /** The watch over the current connection, for an asynchronous stream (see {@link ArrivalWatch}); else null. */
    private volatile ArrivalWatch watch;
    private volatile String expectedChain;

    /** A stream on its own, sharing the process's standalone {@link WalBuffers} (tests and tools). */
    public WalStreamer(String databaseId, PgConnections source, Repository repository, WalStreamSettings settings,
                       WalListener listener, String expectedChain) {
        this(databaseId, source, repository, settings, listener, expectedChain, WalBuffers.standalone());
    }

    /**
     * expectedChain: the chain this database is recorded on ("SYSID-MAJOR"), or null for the first start; buffers: the
     * engine's, shared by all its streams.
     */
    public WalStreamer(String databaseId, PgConnections source, Repository repository, WalStreamSettings settings,
                       WalListener listener, String expectedChain, WalBuffers buffers) {
        this.databaseId = databaseId;
        this.source = source;
        this.settings = settings;
        this.listener = listener;
        this.expectedChain = expectedChain;
        this.clock = new ServerClock(databaseId, settings);
        this.progress = new StreamProgress(listener, clock);
        progress.synchronous = settings.synchronous();
        this.slot = new ReplicationSlot(databaseId, settings.slotName());
        this.timelines = new Timelines(databaseId, repository, listener, progress, clock);
        this.uploads = new SegmentUploads(databaseId, repository, listener, progress, buffers);
        this.catchUp = new CatchUp(databaseId, settings, progress, clock, slot, uploads, () -> stopped);
        progress.publishStatus();
    }

    /**
     * Before start: what the catalog records as durable (the end of the newest timeline's WAL). The stream resumes from
     * there rather than from the slot when the slot is newer (a failover to a server that never had it, an engine that
     * stopped before it recorded what it had acknowledged), as far as the server still has that WAL; the usual checks
     * against the server's history apply to it as to a position streamed in this run.
     */
    public WalStreamer resumeFrom(Lsn lsn, int onTimeline, Instant serverTime) {
        if (thread != null) {
            throw new IllegalStateException("the stream of " + databaseId + " runs already");
        }
        progress.durable = lsn;
        progress.timeline = onTimeline;
        progress.durableTime = serverTime; // what the catalog dates that position by: segments taken up after it carry it until a sample
        progress.publishStatus();
        return this;
    }

    /**
     * Before start: the primary's data directory, when this engine can read it. A backlog of at least
     * {@value CatchUp#MIN_SEGMENTS} completed segments is then read from its pg_wal before the stream goes on
     * ({@link LocalWal}). Without it, everything comes through the stream.
     */
    public WalStreamer readLocalWal(Path pgdata) {
        if (thread != null) {
            throw new IllegalStateException("the stream of " + databaseId + " runs already");
        }
        catchUp.readFrom(pgdata);
        return this;
    }

    /** Starts streaming on a daemon thread of its own. */
    public WalStreamer start() {
        Thread t = new Thread(this, "wal-" + databaseId);
        t.setDaemon(true);
        thread = t;
        t.start();
        return this;
    }

    public WalStreamStatus status() {
        return progress.status();
    }

    /** Accepts a new chain after an operator or the engine decided to follow a re-initialised server. */
    public void expectChain(String chainId) {
        this.expectedChain = chainId;
    }

    /**
     * Asks for a clock sample at the stream's next turn instead of at the next interval: whoever waits for the
     * durable server time to pass a moment (a completing backup) needs a sample taken after that moment.
     */
    public void sampleSoon() {
        clock.sampleSoon();
        wake();
    }

    /** Ends the stream's wait now: a quiet stream may be waiting for its next clock sample (or, polling, its next poll). */
    public void wake() {
        ArrivalWatch w = watch;
        if (w != null) {
            w.wake();
        }
        Thread t = thread;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    @Override
    public void run() {
        int failures = 0;
        uploads.clearSpool(); // what an engine that stopped left there is streamed again from what is durable
        while (!stopped) {
            try {
                streamOnce();
                failures = 0;
            } catch (ChainChangedException e) {
                progress.state = "chain-changed";
                progress.lastError = e.getMessage();
                progress.publishStatus();
                log.error("WAL streaming of {} stopped: {}", databaseId, e.getMessage());
                listener.chainChanged(e.expected, e.actual);
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (Exception e) {
                if (stopped) {
                    break;
                }
                failures++;
                if (settings.synchronous()) {
                    progress.waiting(System.nanoTime()); // no synchronous standby for the server now: its commits wait
                    progress.checkStall(settings.stallWarning());
                }
                progress.lastError = describe(e);
                progress.state = "retrying";
                progress.publishStatus();
                log.warn("WAL streaming of {} failed (attempt {}), retrying: {}", databaseId, failures, progress.lastError);
                listener.streamFailed(progress.lastError, failures);
                if (!sleepBackoff(failures)) {
                    break;
                }
            }
        }
        progress.state = "stopped";
        progress.publishStatus();
    }

    /** One connection's worth: identify the server, follow its timelines, find the start, catch up, stream. */
    private void streamOnce() throws Exception {
        try (Connection sql = source.open(); Connection replication = source.openReplication(settings.applicationName())) {
            ServerIdentity id = ServerIdentity.identify(replication, sql);
            if (expectedChain != null && !expectedChain.equals(id.chain())) {
                throw new ChainChangedException(expectedChain, id.chain());
            }
            if (progress.chain != null && !progress.chain.equals(id.chain())) {
                progress.durable = Lsn.ZERO;
            }
            progress.chain = id.chain();
            expectedChain = id.chain();
            if (progress.timeline != 0 && progress.timeline != id.timeline()) {
                log.info("WAL of {} moved from timeline {} to {}", databaseId, progress.timeline, id.timeline());
            }
            int previousTimeline = progress.timeline;
            progress.timeline = id.timeline();
            List<Fork> history = Timelines.history(replication, id.timeline()); // read once: archiving, divergence and the plan use it
            if (progress.timeline > 1) {
                timelines.archiveHistory(replication, history);
            }
            timelines.forgetDiverged(id, previousTimeline, history);
            Lsn restart = slot.ensure(sql, replication);
            Lsn slotStart = restart.segmentStart(id.segmentSize());
            Lsn start = slotStart;
            if (progress.durable.compareTo(start) > 0 && progress.durable.compareTo(id.position()) <= 0) {
                start = progress.durable.segmentStart(id.segmentSize());
            }
            if (!progress.durable.equals(Lsn.ZERO) && progress.durable.compareTo(slotStart) < 0 && previousTimeline == id.timeline()) {
                uploads.adoptArchived(slotStart, id.segmentSize());
            }
            boolean belowSlot = false;
            if (!progress.durable.equals(Lsn.ZERO) && progress.durable.compareTo(slotStart) < 0) {
                // a slot newer than what is durable: created on a promoted standby, or on a server restored in place, or
                // dropped by someone. The WAL in between may still be on the server: ask for it before accepting a gap.
                log.info("replication slot {} of {} starts at {}, after what is durable ({}): asking the server for the WAL in between",
                        settings.slotName(), databaseId, restart, progress.durable);
                start = progress.durable.segmentStart(id.segmentSize());
                belowSlot = true;
            }
            if (!belowSlot) {
                long began = System.nanoTime();
                Lsn from = start;
                start = catchUp.run(sql, id, start, restart, history);
                if (start == null) {
                    return; // stopped, or the server changed under the catch-up: the next attempt identifies it again
                }
                if (!start.equals(from) && System.nanoTime() - began > TimeUnit.SECONDS.toNanos(30)) {
                    // the replication connection sat idle through a long catch-up (a proxy or idle_session_timeout may
                    // have closed it): the stream goes on over a fresh one
                    try (Connection fresh = source.openReplication(settings.applicationName())) {
                        stream(fresh, sql, id, start, history);
                    }
                    return;
                }
            }
            try {
                stream(replication, sql, id, start, history);
            } catch (SQLException e) {
                // "requested WAL segment ... has already been removed": undefined_file (58P01), whatever the server's language
                boolean removed = "58P01".equals(e.getSQLState()) || e.getMessage() != null && e.getMessage().contains("has already been removed");
                if (!belowSlot || !removed) {
                    throw e;
                }
                log.warn("WAL of {} from {} to {} is no longer on the server ({}): the recovery window has a gap there until the"
                        + " next base backup; streaming resumes from the replication slot's position", databaseId, progress.durable,
                        restart, e.getMessage().lines().findFirst().orElse(""));
                stream(replication, sql, id, slotStart, history);
            }
        }
    }

    /**
     * Streams from start until stopped, until the streamed timeline's part is complete (a timeline the server left), or
     * until the server changes timeline or role: bytes into segments, segments to the uploads, what is durable
     * acknowledged in order, the partial segment uploaded now and then, the server's clock sampled.
     */
    private void stream(Connection replication, Connection sql, ServerIdentity id, Lsn start, List<Fork> history) throws Exception {
        long segmentSize = id.segmentSize();
        clock.segmentSize(segmentSize);
        long[] plan = Timelines.timelineOf(history, id.timeline(), start, segmentSize);
        progress.timeline = (int) plan[0];
        long endSegment = plan[1];
        PGReplicationStream stream = endSegment < 0
                ? replication.unwrap(PGConnection.class).getReplicationAPI().replicationStream().physical()
                        .withSlotName(settings.slotName())
                        .withStartPosition(LogSequenceNumber.valueOf(start.value()))
                        .withStatusInterval(10, TimeUnit.SECONDS)
                        .start()
                : HistoricStream.start(replication, settings.slotName(), start, progress.timeline);
        long nextPartial = System.nanoTime() + settings.partialInterval().toNanos();
        long lastSample = 0;
        boolean sampled = false;
        boolean receivedSinceSample = false;
        long sampleNanos = settings.sampleInterval().toNanos();
        long idleSampleNanos = Math.max(sampleNanos, IDLE_SAMPLE_INTERVAL.toNanos());
        // completed segments are encoded and uploaded by a few uploaders while the stream reads on; they are
        // acknowledged to the server strictly in order, each only once it and every segment before it is durable
        // (once the server ended the stream, nothing is acknowledged any more: what arrived is still made durable)
        ReplicationSlot.Acknowledger toServer = ReplicationSlot.acknowledger(stream);
        boolean[] ended = {false};
        ReplicationSlot.Acknowledger ack = lsn -> {
            if (!ended[0]) {
                toServer.durable(lsn);
            }
        };
        SegmentUploads.Queue queue = uploads.open(ack, segmentSize);
        SegmentAssembly assembly = new SegmentAssembly(uploads, queue,
                WalSegment.containing(progress.timeline, start, segmentSize), endSegment);
        long idleSleep = MIN_POLL_MILLIS;
        long syncSleep = SYNC_MIN_POLL_NANOS;
        boolean readWal = false; // since the watcher last saw bytes
        long connectedAt = System.nanoTime();
        boolean received = false;
        long unsavedSince = 0;
        // only what this connection made durable is acknowledged: a position of an earlier attempt may lie beyond what this
        // server has written (a promoted standby behind it), and acknowledging it would release commits not stored here
        Lsn acknowledged = progress.durable;
        if (settings.synchronous()) {
            progress.commitTimes = new CommitTimes(segmentSize);
        }
        ArrivalWatch watch = null;
        try {
            // an asynchronous stream of the server's current timeline sleeps until the server sends something or its timed
            // work is due (ArrivalWatch); a synchronous one, and one of a timeline the server left, poll
            if (!settings.synchronous() && endSegment < 0) {
                watch = ArrivalWatch.start(replication, databaseId);
                this.watch = watch;
            }
            progress.state = "streaming";
            progress.lastError = null;
            if (endSegment < 0) {
                log.info("WAL streaming of {} started at {} on timeline {} (chain {})", databaseId, start, progress.timeline,
                        progress.chain);
            } else {
                log.info("WAL streaming of {} started at {} on timeline {}, which the server left for timeline {} at {}: streaming"
                        + " it up to there first (chain {})", databaseId, start, progress.timeline, id.timeline(),
                        new WalSegment(progress.timeline, endSegment, segmentSize).start(), progress.chain);
            }
            progress.publishStatus();
            boolean timelineDone = false;
            while (!stopped && !timelineDone) {
                queue.completeReady();
                ByteBuffer data;
                long dataEnd = 0;
                if (watch == null || watch.readable()) {
                    data = stream.readPending();
                    dataEnd = data == null ? 0 : stream.getLastReceiveLSN().asLong();
                    if (data != null) {
                        readWal = true;
                    } else if (watch != null) {
                        watch.drained(readWal); // all the server sent is read: the watcher waits for more
                        readWal = false;
                    }
                } else {
                    data = null;
                }
                long now = System.nanoTime();
                // what arrived, every partial interval (counted from the last upload, so at once after a quiet spell)
                // once the stream has read all the server sent (what a clock sample taken meanwhile saw is then durable
                // and the sample dates it), or when bytes have waited a whole interval; also when half a segment arrived
                // since the last partial upload: under a heavy write load (full-page writes after a checkpoint) a segment
                // fills in less than the interval, and the lag stays under one segment only if the durable position
                // moves within one
                long interval = settings.partialInterval().toNanos();
                if (!settings.synchronous() && assembly.unsaved()
                        && (now >= nextPartial && (data == null || now - unsavedSince >= interval) || assembly.halfway())) {
                    assembly.saveNew();
                    if (progress.durable.compareTo(acknowledged) > 0) {
                        // the server learns it too: a server shutting down waits for its last WAL to be acknowledged
                        acknowledged = progress.durable;
                        ack.durable(acknowledged);
                    }
                    progress.reportDurable();
                    nextPartial = now + interval;
                }
                // a clock sample every sample interval while WAL arrives, less often while none does
                long nextSample = !sampled ? now : lastSample + (receivedSinceSample ? sampleNanos : idleSampleNanos);
                if (clock.due(now, nextSample)) {
                    OptionalInt serverTimeline = clock.sampleTolerating(sql, id, now);
                    if (serverTimeline.isEmpty()) {
                        // a shutdown ends ordinary sessions first: what arrived is made durable and acknowledged at once
                        // (the walsender waits for it), and the next sample is tried a sample interval later
                        lastSample = now;
                        sampled = true;
                        nextSample = now + sampleNanos;
                        nextPartial = now;
                    } else if (serverTimeline.getAsInt() != id.timeline()) {
                        log.info("server of {} is on timeline {} now; reconnecting to follow it", databaseId, serverTimeline.getAsInt());
                        // the completed segments on their way keep this timeline's names: acknowledge them first (the
                        // next connection streams from the durable position under the new timeline's names)
                        queue.completeAll();
                        return;
                    } else {
                        lastSample = now;
                        sampled = true;
                        receivedSinceSample = false;
                        nextSample = now + idleSampleNanos;
                        progress.reportDurable(); // a new sample may date what is durable already; the lag is measured against now
                    }
                }
                if (settings.synchronous()) {
                    if (assembly.unsaved() && (data == null || now - unsavedSince >= SYNC_GROUP_NANOS)) {
                        // everything received since the last upload, in one upload (a group commit)
                        assembly.saveNew();
                        unsavedSince = 0;
                    }
                    if (progress.durable.compareTo(acknowledged) > 0) {
                        // the server's waiting commits are released by the flush position sent right after the upload
                        acknowledged = progress.durable;
                        ack.durable(acknowledged);
                        progress.reportDurable();
                    }
                    // caught up: all this connection received is durable (or, with nothing received for a second, the
                    // server had nothing newer than what is durable)
                    if (!assembly.unsaved() && queue.onlyDurableUnderWay() && (received || now - connectedAt >= TimeUnit.SECONDS.toNanos(1))) {
                        progress.caughtUp();
                    } else {
                        progress.waiting(now);
                    }
                    progress.checkStall(settings.stallWarning());
                    if (data == null) {
                        LockSupport.parkNanos(syncSleep);
                        syncSleep = Math.min(SYNC_MAX_POLL_NANOS, syncSleep * 2);
                        continue;
                    }
                    syncSleep = SYNC_MIN_POLL_NANOS;
                    receivedSinceSample = true;
                    progress.commitTimes.take(dataEnd - data.remaining(), data);
                    timelineDone = assembly.take(data, dataEnd);
                    received = true;
                    if (unsavedSince == 0) {
                        unsavedSince = now;
                    }
                    progress.waiting(now);
                    continue;
                }
                if (data == null && watch != null) {
                    // nothing read: wait for the watcher, or until the next timed work is due (the partial upload of what
                    // arrived, the clock sample); while completed segments upload, look at them at the polls' pace
                    long wait = nextSample - now;
                    if (assembly.unsaved()) {
                        wait = Math.min(wait, nextPartial - now);
                    }
                    if (!queue.isEmpty()) {
                        wait = Math.min(wait, TimeUnit.MILLISECONDS.toNanos(idleSleep));
                        idleSleep = Math.min(MAX_POLL_MILLIS, idleSleep * 2);
                    }
                    watch.await(wait); // close() interrupts it, sampleSoon() and wake() end it
                    continue;
                }
                if (data == null) {
                    // a quiet stream polls less often: a fleet of idle databases costs next to no CPU (close() interrupts
                    // the wait, sampleSoon() ends it)
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(idleSleep));
                    idleSleep = Math.min(MAX_POLL_MILLIS, idleSleep * 2);
                    continue;
                }
                idleSleep = MIN_POLL_MILLIS;
                receivedSinceSample = true;
                if (!assembly.unsaved()) {
                    unsavedSince = now;
                }
                timelineDone = assembly.take(data, dataEnd);
            }
            if (timelineDone) {
                queue.completeAll();
                log.info("WAL of {} on timeline {} is complete up to {}; continuing on the next timeline", databaseId,
                        progress.timeline, assembly.segment().start());
                return;
            }
            // stopped: acknowledge what is on its way (when close() interrupted us, the wait below throws instead
            // and the uploads are cancelled unacknowledged; the slot keeps their WAL for the next start)
            queue.completeAll();
        } catch (SQLException e) {
            ended[0] = true;
            keepWhatArrived(queue, assembly, e);
            throw e;
        } finally {
            if (watch != null) {
                this.watch = null;
                watch.close(stream, replication); // before the stream's close, which reads the server's answer
            }
            queue.close();
            try {
                assembly.close();
            } catch (IOException e) {
                log.debug("removing the spooled partial segment of {}: {}", databaseId, e.getMessage());
            }
            try {
                stream.close();
            } catch (SQLException e) {
                log.debug("closing the replication stream of {}: {}", databaseId, e.getMessage());
            }
        }
    }

    /**
     * The server ended the stream or the connection failed: what arrived before is made durable now rather than left to
     * the next connection, which a server that shut down never accepts. A server sends its last WAL, the shutdown
     * checkpoint, right before it ends the stream; without it in the repository, the stopped directory could not be shown
     * whole for a restore in place without a copy. Nothing more is acknowledged; a failure here only adds to the first.
     */
    private void keepWhatArrived(SegmentUploads.Queue queue, SegmentAssembly assembly, SQLException ending) {
        if (stopped) {
            return;
        }
        Lsn before = progress.durable;
        try {
            queue.completeAll();
            assembly.saveNew();
            progress.reportDurable();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            ending.addSuppressed(e);
        } catch (Exception e) {
            ending.addSuppressed(e);
        }
        if (progress.durable.compareTo(before) > 0) {
            log.info("WAL of {} up to {} is durable: what the server sent before the stream ended", databaseId, progress.durable);
        }
    }

    private boolean sleepBackoff(int failures) {
        long cap = Math.min(settings.backoffCap().toMillis(), 500L << Math.min(failures, 10));
        long delay = ThreadLocalRandom.current().nextLong(cap / 2, cap + 1);
        try {
            Thread.sleep(delay);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String describe(Exception e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
    }

    @Override
    public void close() {
        stopped = true;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
            try {
                t.join(15_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Where a timeline began: timeline tli's WAL is used from segment begin on, its parent's before it. The segment holding
     * the switch point exists under both names; the new timeline's copy is the one recovery reads.
     */
    public record Fork(int tli, Lsn begin) {
    }

    /** The timelines of the server's current history that end before it, oldest first (see {@link Timelines#history}). */
    public static List<Fork> history(Connection replication, int current) throws SQLException {
        return Timelines.history(replication, current);
    }

    /** Parses a history file ("1\t0/3000000\treason" lines) into the ancestors' ends, oldest first. */
    public static List<Fork> forks(String history) {
        return Timelines.forks(history);
    }

    private static final class ChainChangedException extends Exception {
        final String expected;
        final String actual;

        ChainChangedException(String expected, String actual) {
            super("the server is now system " + actual + " but this database's WAL chain is " + expected
                    + " (re-initialised or upgraded to a new major version): take a new base backup to start a new chain;"
                    + " the old chain stays listed and restorable");
            this.expected = expected;
            this.actual = actual;
        }
    }
}
