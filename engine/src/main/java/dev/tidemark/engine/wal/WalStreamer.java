package dev.tidemark.engine.wal;

import dev.tidemark.engine.basebackup.Workers;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import org.postgresql.PGConnection;
import org.postgresql.replication.LogSequenceNumber;
import org.postgresql.replication.PGReplicationStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Streams one database's WAL over a physical replication slot into the repository: whole segments as they
 * complete, the current one as a partial segment every few seconds (and whenever half a segment arrived). The slot's
 * flush position moves only after a segment is durable in the repository, so the server keeps every byte that is not
 * yet safe. A backlog of completed segments is read from the primary's own pg_wal when its data directory is readable
 * here ({@link LocalWal}), with the same in-order acknowledgement.
 */
public final class WalStreamer implements Runnable, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class);
    /** Segments encoded and uploaded at once, beside the stream (each holds a 16 MiB buffer while it is). */
    private static final int UPLOADERS = 2;
    /** Behind the server's flushed position by at least this many segments, a catch-up reads the primary's pg_wal. */
    static final long CATCH_UP_MIN_SEGMENTS = 4;

    private final String databaseId;
    private final PgConnections source;
    private final Repository repository;
    private final WalStreamSettings settings;
    private final WalListener listener;
    private final Deque<ClockSample> samples = new ArrayDeque<>();
    private final AtomicReference<WalStreamStatus> status = new AtomicReference<>();
    private volatile boolean stopped;
    /** Set by {@link #sampleSoon()}: the next turn of the stream loop samples the server clock. */
    private volatile boolean sampleRequested;
    private volatile Thread thread;
    private volatile String expectedChain;
    private volatile Path localPgdata;
    private String localRefusal;
    private Lsn lastCatchUpStart;

    private String chain;
    private int timeline;
    private Lsn durable = Lsn.ZERO;
    private Instant durableTime;
    private long segmentsArchived;
    private long bytesArchived;
    private long segmentsReadLocally;
    private long serverLsn;
    private long segmentSize = 16L << 20;
    private Instant serverTime;
    private long retainedBytes;
    private boolean retainedWarned;
    private String lastError;
    private String state = "starting";

    /** expectedChain: the chain this database is recorded on ("SYSID-MAJOR"), or null for the first start. */
    public WalStreamer(String databaseId, PgConnections source, Repository repository, WalStreamSettings settings,
                       WalListener listener, String expectedChain) {
        this.databaseId = databaseId;
        this.source = source;
        this.repository = repository;
        this.settings = settings;
        this.listener = listener;
        this.expectedChain = expectedChain;
        publishStatus();
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
        durable = lsn;
        timeline = onTimeline;
        durableTime = serverTime; // what the catalog dates that position by: segments taken up after it carry it until a sample
        publishStatus();
        return this;
    }

    /**
     * Before start: the primary's data directory, when this engine can read it. A backlog of at least
     * {@value #CATCH_UP_MIN_SEGMENTS} completed segments is then read from its pg_wal before the stream goes on
     * ({@link LocalWal}). Without it, everything comes through the stream.
     */
    public WalStreamer readLocalWal(Path pgdata) {
        if (thread != null) {
            throw new IllegalStateException("the stream of " + databaseId + " runs already");
        }
        this.localPgdata = pgdata;
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
        return status.get();
    }

    /** Accepts a new chain after an operator or the engine decided to follow a re-initialised server. */
    public void expectChain(String chainId) {
        this.expectedChain = chainId;
    }

    @Override
    public void run() {
        int failures = 0;
        while (!stopped) {
            try {
                streamOnce();
                failures = 0;
            } catch (ChainChangedException e) {
                state = "chain-changed";
                lastError = e.getMessage();
                publishStatus();
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
                lastError = describe(e);
                state = "retrying";
                publishStatus();
                log.warn("WAL streaming of {} failed (attempt {}), retrying: {}", databaseId, failures, lastError);
                listener.streamFailed(lastError, failures);
                if (!sleepBackoff(failures)) {
                    break;
                }
            }
        }
        state = "stopped";
        publishStatus();
    }

    private void streamOnce() throws Exception {
        try (Connection sql = source.open(); Connection replication = source.openReplication()) {
            Identity id = identify(replication, sql);
            if (expectedChain != null && !expectedChain.equals(id.chain)) {
                throw new ChainChangedException(expectedChain, id.chain);
            }
            if (chain != null && !chain.equals(id.chain)) {
                durable = Lsn.ZERO;
            }
            chain = id.chain;
            expectedChain = id.chain;
            if (timeline != 0 && timeline != id.timeline) {
                log.info("WAL of {} moved from timeline {} to {}", databaseId, timeline, id.timeline);
            }
            int previousTimeline = timeline;
            timeline = id.timeline;
            List<Fork> history = history(replication, id.timeline); // read once: archiving, divergence and the plan use it
            if (timeline > 1) {
                archiveHistory(replication, history);
            }
            forgetDiverged(id, previousTimeline, history);
            Lsn restart = ensureSlot(sql, replication);
            Lsn slotStart = restart.segmentStart(id.segmentSize);
            Lsn start = slotStart;
            if (durable.compareTo(start) > 0 && durable.compareTo(id.position) <= 0) {
                start = durable.segmentStart(id.segmentSize);
            }
            if (!durable.equals(Lsn.ZERO) && durable.compareTo(slotStart) < 0 && previousTimeline == id.timeline) {
                adoptArchived(slotStart, id.segmentSize);
            }
            boolean belowSlot = false;
            if (!durable.equals(Lsn.ZERO) && durable.compareTo(slotStart) < 0) {
                // a slot newer than what is durable: created on a promoted standby, or on a server restored in place, or
                // dropped by someone. The WAL in between may still be on the server: ask for it before accepting a gap.
                log.info("replication slot {} of {} starts at {}, after what is durable ({}): asking the server for the WAL in between",
                        settings.slotName(), databaseId, restart, durable);
                start = durable.segmentStart(id.segmentSize);
                belowSlot = true;
            }
            if (!belowSlot) {
                long began = System.nanoTime();
                Lsn from = start;
                start = catchUpLocally(sql, id, start, restart, history);
                if (start == null) {
                    return; // stopped, or the server changed under the catch-up: the next attempt identifies it again
                }
                if (!start.equals(from) && System.nanoTime() - began > TimeUnit.SECONDS.toNanos(30)) {
                    // the replication connection sat idle through a long catch-up (a proxy or idle_session_timeout may
                    // have closed it): the stream goes on over a fresh one
                    try (Connection fresh = source.openReplication()) {
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
                        + " next base backup; streaming resumes from the replication slot's position", databaseId, durable, restart,
                        e.getMessage().lines().findFirst().orElse(""));
                stream(replication, sql, id, slotStart, history);
            }
        }
    }

    /**
     * The segments from the durable position up to the slot that the repository holds already: acknowledged by a run
     * that stopped (was killed) before it recorded them. They are reported as archived instead of streamed again: the
     * server may have recycled them since. The durable position moves to the end of the last one found.
     */
    private void adoptArchived(Lsn slotStart, long segmentSize) throws IOException {
        WalSegment segment = WalSegment.containing(timeline, durable, segmentSize);
        Lsn from = durable;
        int adopted = 0;
        while (segment.end().compareTo(slotStart) <= 0
                && repository.store().stat(repository.layout().walSegment(databaseId, chain, segment.name())).isPresent()) {
            listener.segmentArchived(chain, segment, segmentSize);
            durable = segment.end();
            adopted++;
            segment = segment.next();
        }
        if (adopted > 0) {
            if (durableTime != null) {
                listener.durable(chain, timeline, durable, durableTime); // dated by the recorded end: no later than the truth
            }
            log.info("WAL of {} from {} to {} is in the repository already ({} segments acknowledged before the stream stopped, not"
                    + " yet recorded): recorded now", databaseId, from, durable, adopted);
            publishStatus();
        }
    }

    /**
     * Where a timeline began: timeline tli's WAL is used from segment begin on, its parent's before it. The segment holding
     * the switch point exists under both names; the new timeline's copy is the one recovery reads.
     */
    public record Fork(int tli, Lsn begin) {
    }

    /** The timelines of the server's current history that end before it, oldest first, each with where its successor began. */
    public static List<Fork> history(Connection replication, int current) throws SQLException {
        if (current <= 1) {
            return List.of();
        }
        try (Statement st = replication.createStatement(); ResultSet rs = st.executeQuery("TIMELINE_HISTORY " + current)) {
            rs.next();
            return forks(new String(rs.getBytes(2), StandardCharsets.UTF_8));
        }
    }

    /** Parses a history file ("1\t0/3000000\treason" lines) into the ancestors' ends, oldest first. */
    public static List<Fork> forks(String history) {
        List<Fork> forks = new ArrayList<>();
        for (String line : history.split("\n")) {
            String[] parts = line.trim().split("\\s+");
            if (parts.length >= 2 && parts[0].matches("[0-9]+")) {
                forks.add(new Fork(Integer.parseInt(parts[0]), Lsn.parse(parts[1])));
            }
        }
        return forks;
    }

    /**
     * The timeline whose copy of the segment at start recovery reads, and the segment number where that timeline's part
     * ends (-1 for the current timeline).
     */
    static long[] timelineOf(List<Fork> history, int current, Lsn start, long segmentSize) {
        long segment = start.value() / segmentSize;
        for (Fork f : history) {
            long end = f.begin().value() / segmentSize; // the successor's copy of the switch segment is the one to keep
            if (segment < end) {
                return new long[] {f.tli(), end};
            }
        }
        return new long[] {current, -1};
    }

    /**
     * What was made durable before counts for this server only as far as its history shares it: after a failover
     * to a standby that had not received everything (a new timeline forking below the durable position), or behind
     * a server that is not as far as the durable position (restored, rewound), the durable position falls back to
     * the fork. Otherwise the stream would resume past WAL this server wrote differently, acknowledge it unseen, and
     * date the window and the next backup's WAL by WAL the repository does not hold.
     */
    private void forgetDiverged(Identity id, int previousTimeline, List<Fork> history) {
        if (durable.equals(Lsn.ZERO)) {
            return;
        }
        Lsn keep = durable;
        if (previousTimeline != 0 && previousTimeline != id.timeline) {
            Lsn fork = Lsn.ZERO; // a lower timeline, or one whose history does not pass through ours: nothing shared
            if (previousTimeline < id.timeline) {
                fork = history.stream().filter(f -> f.tli() == previousTimeline).map(Fork::begin).findFirst().orElse(Lsn.ZERO);
            }
            keep = keep.compareTo(fork) <= 0 ? keep : fork;
        }
        if (keep.compareTo(id.position) > 0) {
            keep = Lsn.ZERO;
        }
        if (keep.compareTo(durable) < 0) {
            log.warn("WAL of {}: the server (timeline {}, at {}) does not share what was streamed up to {} on timeline {}:"
                    + " streaming resumes from {}", databaseId, id.timeline, id.position, durable, previousTimeline,
                    keep.equals(Lsn.ZERO) ? "the replication slot's position" : keep);
            durable = keep;
            long kept = keep.value();
            samples.removeIf(sample -> Long.compareUnsigned(sample.lsn, kept) > 0);
            durableTime = timeOf(durable);
            publishStatus();
        }
    }

    private void stream(Connection replication, Connection sql, Identity id, Lsn start, List<Fork> history) throws Exception {
        long segmentSize = id.segmentSize;
        this.segmentSize = segmentSize;
        long[] plan = timelineOf(history, id.timeline, start, segmentSize);
        timeline = (int) plan[0];
        long endSegment = plan[1];
        PGReplicationStream stream = endSegment < 0
                ? replication.unwrap(PGConnection.class).getReplicationAPI().replicationStream().physical()
                        .withSlotName(settings.slotName())
                        .withStartPosition(LogSequenceNumber.valueOf(start.value()))
                        .withStatusInterval(10, TimeUnit.SECONDS)
                        .start()
                : HistoricStream.start(replication, settings.slotName(), start, timeline);
        Acknowledger ack = acknowledger(stream);
        byte[] buffer = new byte[(int) segmentSize];
        WalSegment segment = WalSegment.containing(timeline, start, segmentSize);
        int filled = 0;
        int uploadedPartial = 0;
        long nextPartial = System.nanoTime() + settings.partialInterval().toNanos();
        long nextSample = 0;
        // completed segments are encoded and uploaded by a few uploaders while the stream reads on; they are
        // acknowledged to the server strictly in order, each only once it and every segment before it is durable
        ExecutorService uploaders = newUploaders();
        Deque<Pending> pending = new ArrayDeque<>();
        Deque<byte[]> spare = new ArrayDeque<>();
        boolean drained = false;
        try {
            state = "streaming";
            lastError = null;
            if (endSegment < 0) {
                log.info("WAL streaming of {} started at {} on timeline {} (chain {})", databaseId, start, timeline, chain);
            } else {
                log.info("WAL streaming of {} started at {} on timeline {}, which the server left for timeline {} at {}: streaming"
                        + " it up to there first (chain {})", databaseId, start, timeline, id.timeline,
                        new WalSegment(timeline, endSegment, segmentSize).start(), chain);
            }
            publishStatus();
            boolean timelineDone = false;
            while (!stopped && !timelineDone) {
                completeReady(ack, pending, spare);
                ByteBuffer data = stream.readPending();
                long now = System.nanoTime();
                if (now >= nextSample || sampleRequested) {
                    sampleRequested = false;
                    int serverTimeline = sample(sql, id);
                    if (serverTimeline != id.timeline) {
                        log.info("server of {} is on timeline {} now; reconnecting to follow it", databaseId, serverTimeline);
                        // the completed segments on their way keep this timeline's names: acknowledge them first (the
                        // next connection streams from the durable position under the new timeline's names)
                        completeAll(ack, pending, spare);
                        drained = true;
                        return;
                    }
                    nextSample = now + settings.sampleInterval().toNanos();
                    reportDurable(); // a new sample may date what is durable already; the lag is measured against now
                }
                // also when half a segment arrived since the last partial upload: under a heavy write load (full-page
                // writes after a checkpoint) a segment fills in less than the interval, and the lag stays under one
                // segment only if the durable position moves within one
                boolean halfway = filled - uploadedPartial >= buffer.length / 2 && pending.isEmpty();
                if (now >= nextPartial || halfway) {
                    // only behind a contiguous durable prefix: while earlier segments are still uploading, the
                    // partial one could not move the durable position anyway
                    if (filled > uploadedPartial && pending.isEmpty()) {
                        uploadPartial(segment, buffer, filled);
                        uploadedPartial = filled;
                    }
                    reportDurable();
                    nextPartial = now + settings.partialInterval().toNanos();
                }
                if (data == null) {
                    Thread.sleep(10);
                    continue;
                }
                long end = stream.getLastReceiveLSN().asLong();
                long dataStart = end - data.remaining();
                long expected = segment.start().value() + filled;
                if (dataStart > expected) {
                    throw new IOException("the server sent WAL from " + new Lsn(dataStart) + " but " + new Lsn(expected) + " was expected");
                }
                if (dataStart < expected) {
                    long skip = expected - dataStart;
                    if (skip >= data.remaining()) {
                        continue;
                    }
                    data.position(data.position() + (int) skip);
                }
                while (data.hasRemaining()) {
                    int n = Math.min(data.remaining(), buffer.length - filled);
                    data.get(buffer, filled, n);
                    filled += n;
                    if (filled == buffer.length) {
                        WalSegment complete = segment;
                        byte[] bytes = buffer;
                        String segmentChain = chain; // the uploader never reads a field a later attempt may change
                        pending.add(new Pending(complete, bytes, uploaders.submit(() -> archiveSegment(segmentChain, complete, bytes))));
                        while (pending.size() > UPLOADERS) {
                            completeHead(ack, pending, spare); // bounded memory: wait for the oldest upload first
                        }
                        buffer = spare.isEmpty() ? new byte[(int) segmentSize] : spare.poll();
                        segment = segment.next();
                        filled = 0;
                        uploadedPartial = 0;
                        if (endSegment >= 0 && segment.number() >= endSegment) {
                            timelineDone = true; // this timeline's part is complete; what follows is the successor's
                            break;
                        }
                    }
                }
            }
            if (timelineDone) {
                completeAll(ack, pending, spare);
                drained = true;
                log.info("WAL of {} on timeline {} is complete up to {}; continuing on the next timeline", databaseId, timeline,
                        segment.start());
                return;
            }
            // stopped: acknowledge what is on its way (when close() interrupted us, the wait below throws instead
            // and the uploads are cancelled unacknowledged; the slot keeps their WAL for the next start)
            completeAll(ack, pending, spare);
            drained = true;
        } finally {
            if (drained) {
                uploaders.shutdown();
            } else {
                // failed or interrupted: nothing more is acknowledged; wait for the uploads under way, so that none
                // overlaps with the next attempt (which sends the same segments again: a no-op for those stored)
                Workers.stopAndWait(uploaders);
            }
            try {
                stream.close();
            } catch (SQLException e) {
                log.debug("closing the replication stream of {}: {}", databaseId, e.getMessage());
            }
        }
    }

    private ExecutorService newUploaders() {
        return Executors.newFixedThreadPool(UPLOADERS, r -> {
            Thread t = new Thread(r, "wal-upload-" + databaseId);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Catches up with a backlog of completed segments by reading them from the primary's own pg_wal instead of through the
     * replication protocol, as far as they prove themselves ({@link LocalWal}). Each is uploaded and acknowledged in order
     * as a streamed one is, the slot moved with pg_replication_slot_advance. Returns where the stream goes on (the end of
     * what was made durable, or start when nothing was), or null when the attempt should end: stopped, or the server
     * changed timeline or role meanwhile.
     */
    private Lsn catchUpLocally(Connection sql, Identity id, Lsn start, Lsn slotRestart, List<Fork> history) throws Exception {
        Path pgdata = localPgdata;
        long segmentSize = id.segmentSize;
        if (pgdata == null || id.standby || start.value() % segmentSize != 0
                || timelineOf(history, id.timeline, start, segmentSize)[1] >= 0) {
            return start;
        }
        Lsn flushed = flushedPosition(sql);
        if (flushed.value() - start.value() < CATCH_UP_MIN_SEGMENTS * segmentSize) {
            return start;
        }
        LocalWal local;
        try {
            local = LocalWal.of(pgdata, id.systemId, id.port, sql);
            localRefusal = null;
        } catch (LocalWal.UnusableException e) {
            if (!e.getMessage().equals(localRefusal)) {
                localRefusal = e.getMessage();
                log.info("WAL of {} is {} MiB behind the server; it comes through the stream, as {}'s pg_wal cannot be read here: {}",
                        databaseId, (flushed.value() - start.value()) >> 20, pgdata, e.getMessage());
            }
            return start;
        }
        this.segmentSize = segmentSize;
        timeline = id.timeline;
        long systemId = Long.parseUnsignedLong(id.systemId);
        if (!start.equals(lastCatchUpStart)) { // a retry from the same place (storage still out) says nothing new
            lastCatchUpStart = start;
            log.info("WAL of {} is {} MiB behind the server: reading its completed segments from {} from {} on", databaseId,
                    (flushed.value() - start.value()) >> 20, pgdata.resolve("pg_wal"), start);
        }
        state = "catching-up";
        lastError = null;
        publishStatus();
        ExecutorService uploaders = newUploaders();
        Deque<Pending> pending = new ArrayDeque<>();
        Deque<byte[]> spare = new ArrayDeque<>();
        SlotAdvancer advancer = new SlotAdvancer(sql, slotRestart);
        WalSegment segment = WalSegment.containing(id.timeline, start, segmentSize);
        String refused = null;
        ConflictInCatchUp conflict = null;
        boolean serverChanged = false;
        long nextSample = 0;
        boolean drained = false;
        try {
            while (!stopped) {
                completeReady(advancer, pending, spare);
                long now = System.nanoTime();
                if (now >= nextSample) {
                    if (sample(sql, id) != id.timeline) {
                        serverChanged = true;
                        break;
                    }
                    nextSample = now + settings.sampleInterval().toNanos();
                    reportDurable();
                }
                if (segment.end().compareTo(flushed) > 0) {
                    flushed = flushedPosition(sql);
                    if (flushed.value() - segment.start().value() < CATCH_UP_MIN_SEGMENTS * segmentSize) {
                        break; // the rest, and what follows, through the stream
                    }
                }
                byte[] buffer = spare.isEmpty() ? new byte[(int) segmentSize] : spare.poll();
                refused = local.read(segment, systemId, buffer);
                if (refused != null) {
                    break;
                }
                WalSegment complete = segment;
                String segmentChain = chain; // the uploader never reads a field a later attempt may change
                pending.add(new Pending(complete, buffer, uploaders.submit(() -> archiveSegment(segmentChain, complete, buffer))));
                while (pending.size() > UPLOADERS) {
                    completeHead(advancer, pending, spare); // bounded memory, as in the stream
                }
                segment = segment.next();
            }
            completeAll(advancer, pending, spare);
            drained = true;
        } catch (ConflictInCatchUp e) {
            refused = e.getMessage();
            segment = e.segment;
            conflict = e;
        } finally {
            if (drained) {
                uploaders.shutdown();
            } else {
                Workers.stopAndWait(uploaders); // nothing more acknowledged; the stream or the next attempt sends the rest
            }
        }
        if (conflict != null) {
            forgetAfterConflict(conflict, pending);
        }
        long made = Math.max(0, (durable.value() - start.value()) / segmentSize);
        if (made > 0) {
            segmentsReadLocally += made;
            advancer.advance(durable);
        }
        publishStatus();
        if (refused != null) {
            log.warn("WAL of {}: stopped reading pg_wal at {} after {} segments, the stream takes over from there: {}", databaseId,
                    segment, made, refused);
        } else if (made > 0 || stopped || serverChanged) {
            log.info("WAL of {}: {} segments read from pg_wal up to {} ({}); {}", databaseId, made, durable,
                    advancer.givenUp ? "the slot left where it was" : "slot moved to " + advancer.advanced,
                    stopped ? "stopping" : serverChanged ? "the server changed timeline or role: reconnecting" : "streaming from there");
        }
        if (stopped || serverChanged) {
            return null;
        }
        return made > 0 ? durable.segmentStart(segmentSize) : start;
    }

    private static Lsn flushedPosition(Connection sql) throws SQLException {
        try (Statement st = sql.createStatement(); ResultSet rs = st.executeQuery("select pg_current_wal_flush_lsn()::text")) {
            rs.next();
            return Lsn.parse(rs.getString(1));
        }
    }

    /**
     * Acknowledges a catch-up's durable segments by moving the slot (pg_replication_slot_advance) at most once a second. A
     * slot that cannot be moved now (still held by the walsender of a connection just closed) is tried again a second
     * later; one this role may not move, or that is gone, is left alone: the server keeps that WAL until the stream
     * acknowledges it. A segment whose stored copy differs from the file ends the catch-up unacknowledged: the stream
     * sends the server's own bytes for it.
     */
    private final class SlotAdvancer implements Acknowledger {
        private final Connection sql;
        private long last = System.nanoTime();
        private Lsn advanced;
        private boolean givenUp;
        private String warned;

        SlotAdvancer(Connection sql, Lsn slotRestart) {
            this.sql = sql;
            this.advanced = slotRestart;
        }

        @Override
        public boolean acceptsConflict() {
            return false;
        }

        @Override
        public void durable(Lsn lsn) {
            if (System.nanoTime() - last >= TimeUnit.SECONDS.toNanos(1)) {
                advance(lsn);
            }
        }

        void advance(Lsn lsn) {
            last = System.nanoTime();
            if (givenUp || lsn.compareTo(advanced) <= 0) {
                return;
            }
            try (PreparedStatement ps = sql.prepareStatement("select pg_replication_slot_advance(?, ?::pg_lsn)")) {
                ps.setString(1, settings.slotName());
                ps.setString(2, lsn.toString());
                ps.execute();
                advanced = lsn;
            } catch (SQLException e) {
                String state = e.getSQLState();
                givenUp = "42501".equals(state) || "42704".equals(state) || "55000".equals(state); // no privilege, no slot, invalidated
                if (!Objects.equals(warned, state)) {
                    warned = state;
                    log.warn("replication slot {} of {} could not be moved to {} ({}): {}", settings.slotName(), databaseId, lsn,
                            e.getMessage().lines().findFirst().orElse(""), givenUp
                                    ? "the server keeps that WAL until the stream acknowledges it"
                                    : "trying again in a second");
                }
            }
        }
    }

    /**
     * After a conflict in a catch-up, what the catch-up read is not trusted further: the segments after the conflicting one
     * that it stored (unacknowledged) are removed again, and so is the copy of the conflicting one it set aside, so that
     * the stream stores and compares the server's own bytes for all of them.
     */
    private void forgetAfterConflict(ConflictInCatchUp conflict, Deque<Pending> pending) {
        List<String> removed = new ArrayList<>();
        try {
            repository.store().delete(conflict.keptAs);
            for (Pending p : pending) {
                if (p.segment().compareTo(conflict.segment) > 0 && p.result().isDone() && !p.result().isCancelled()) {
                    Archived a;
                    try {
                        a = p.result().get();
                    } catch (ExecutionException e) {
                        continue;
                    }
                    if (a.stored()) {
                        repository.store().delete(repository.layout().walSegment(databaseId, chain, p.segment().name()));
                        removed.add(p.segment().name());
                    }
                }
            }
        } catch (IOException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            log.warn("WAL of {}: could not remove what the catch-up stored after {} ({}): the stream compares them with the"
                    + " server's bytes as it sends them", databaseId, conflict.segment, e.getMessage());
            return;
        }
        if (!removed.isEmpty()) {
            log.info("WAL of {}: removed {} again, stored by the catch-up after the conflicting {}: the stream sends them",
                    databaseId, removed, conflict.segment);
        }
    }

    /** A segment read during a catch-up differs from the repository's copy: the catch-up ends before it. */
    private static final class ConflictInCatchUp extends Exception {
        final WalSegment segment;
        final String keptAs;

        ConflictInCatchUp(WalSegment segment, String keptAs) {
            super("the repository holds other content for " + segment + " than the file " + segment.name()
                    + " in pg_wal: the stream sends the server's own bytes for it");
            this.segment = segment;
            this.keptAs = keptAs;
        }
    }

    /** Acknowledges every finished upload at the head of the queue. */
    private void completeReady(Acknowledger ack, Deque<Pending> pending, Deque<byte[]> spare) throws Exception {
        while (!pending.isEmpty() && pending.peek().result().isDone()) {
            completeHead(ack, pending, spare);
        }
    }

    /** Waits for every upload under way and acknowledges each, in order. */
    private void completeAll(Acknowledger ack, Deque<Pending> pending, Deque<byte[]> spare) throws Exception {
        while (!pending.isEmpty()) {
            completeHead(ack, pending, spare);
        }
    }

    /** Waits for the oldest upload; once durable, its segment is recorded and the server may release it. */
    private void completeHead(Acknowledger ack, Deque<Pending> pending, Deque<byte[]> spare) throws Exception {
        Pending head = pending.peek();
        Archived archived;
        try {
            archived = head.result().get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception ex) {
                throw ex;
            }
            throw new IOException("uploading " + head.segment() + " failed: " + cause, cause);
        }
        if (archived.keptAs() != null && !ack.acceptsConflict()) {
            throw new ConflictInCatchUp(head.segment(), archived.keptAs());
        }
        pending.poll();
        if (archived.keptAs() != null) {
            listener.conflict(chain, head.segment(), archived.existingSha256(), archived.sha256(), archived.keptAs());
        } else {
            if (archived.stored()) {
                segmentsArchived++;
                bytesArchived += head.buffer().length;
            }
            listener.segmentArchived(chain, head.segment(), head.buffer().length);
        }
        durable = head.segment().end();
        ack.durable(durable);
        reportDurable();
        if (spare.size() <= UPLOADERS) { // up to UPLOADERS + 1 in flight: reused, not allocated (16 MiB each)
            spare.add(head.buffer());
        }
    }

    /** Tells the server what is durable, so that it may release that WAL. */
    private interface Acknowledger {
        void durable(Lsn lsn) throws SQLException;

        /** False: a conflict is not acknowledged but ends what runs (a catch-up), before that segment. */
        default boolean acceptsConflict() {
            return true;
        }
    }

    /** Acknowledges through the replication stream's status messages. */
    private static Acknowledger acknowledger(PGReplicationStream stream) {
        return lsn -> {
            stream.setFlushedLSN(LogSequenceNumber.valueOf(lsn.value()));
            stream.setAppliedLSN(LogSequenceNumber.valueOf(lsn.value()));
            stream.forceUpdateStatus();
        };
    }

    /** A completed segment being uploaded. */
    private record Pending(WalSegment segment, byte[] buffer, Future<Archived> result) {
    }

    /**
     * What an upload found: stored now, or there already with the same content, or with another (kept aside). The
     * SHA-256 values are known only when the repository already had the segment: a new segment is not hashed, as
     * nothing would keep the hash (each frame of the object is authenticated by the codec, and every WAL record by
     * its CRC), and hashing 16 MiB costs about a third of an upload's CPU.
     */
    private record Archived(String sha256, boolean stored, String existingSha256, String keptAs) {
    }

    /** Runs on an uploader: stores the segment unless the repository has it; a different content is set aside. */
    private Archived archiveSegment(String chain, WalSegment segment, byte[] buffer) throws IOException {
        String key = repository.layout().walSegment(databaseId, chain, segment.name());
        Archived archived;
        if (repository.store().stat(key).isPresent()) {
            String sha = sha256(buffer, buffer.length);
            String existing = sha256Of(repository.openDecoded(key));
            if (!existing.equals(sha)) {
                String keptAs = repository.layout().walConflict(databaseId, chain, segment.name(), sha.substring(0, 16));
                repository.putEncoded(keptAs, new ByteArrayInputStream(buffer));
                log.error("WAL segment {} of {} arrived with content {} but the repository holds {}: kept the first, set the new one aside as {}",
                        segment, databaseId, sha.substring(0, 12), existing.substring(0, 12), keptAs);
                return new Archived(sha, false, existing, keptAs);
            }
            archived = new Archived(sha, false, null, null);
        } else {
            store(key, buffer, buffer.length);
            archived = new Archived(null, true, null, null);
        }
        repository.store().delete(repository.layout().walPartial(databaseId, chain, segment.name()));
        return archived;
    }

    private void uploadPartial(WalSegment segment, byte[] buffer, int filled) throws IOException {
        String key = repository.layout().walPartial(databaseId, chain, segment.name());
        store(key, buffer, filled);
        Lsn end = segment.start().plus(filled);
        if (end.compareTo(durable) > 0) {
            durable = end;
        }
    }

    /** Stores WAL through the codec without hashing it (see {@link Archived}). */
    private void store(String key, byte[] buffer, int length) throws IOException {
        try (Repository.EncodingWriter writer = repository.openEncoded(key, false)) {
            writer.write(buffer, 0, length);
            writer.commit();
        }
    }

    private void reportDurable() {
        Instant time = timeOf(durable);
        if (time != null && (durableTime == null || time.isAfter(durableTime))) {
            durableTime = time;
        }
        publishStatus();
        if (durableTime != null) {
            listener.durable(chain, timeline, durable, durableTime);
        }
    }

    /**
     * Asks for a clock sample at the stream's next turn instead of at the next interval: whoever waits for the
     * durable server time to pass a moment (a completing backup) needs a sample taken after that moment.
     */
    public void sampleSoon() {
        sampleRequested = true;
    }

    /**
     * The newest sampled server time whose WAL position lies at or below lsn. Right after a segment switch the server
     * reports its position past the new segment's page header although no record follows: that counts as reached.
     */
    private Instant timeOf(Lsn lsn) {
        Instant best = null;
        boolean atBoundary = lsn.value() % segmentSize == 0;
        for (ClockSample s : samples) {
            boolean reached = Long.compareUnsigned(s.lsn, lsn.value()) <= 0
                    || (atBoundary && s.lsn - lsn.value() <= LONG_PAGE_HEADER);
            if (reached && (best == null || s.time.isAfter(best))) {
                best = s.time;
            }
        }
        return best;
    }

    /** Samples the server's clock, WAL position and the slot's retained WAL; returns the server's timeline. */
    private int sample(Connection sql, Identity id) throws SQLException {
        String query = id.standby
                ? "select clock_timestamp(), coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()),"
                + " (select received_tli from pg_stat_wal_receiver), pg_is_in_recovery(),"
                + " (select pg_wal_lsn_diff(coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), restart_lsn)"
                + "  from pg_replication_slots where slot_name = ?)"
                : "select clock_timestamp(), pg_current_wal_lsn(), ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int,"
                + " pg_is_in_recovery(), (select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) from pg_replication_slots where slot_name = ?)";
        try (PreparedStatement ps = sql.prepareStatement(query)) {
            ps.setString(1, settings.slotName());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                Instant time = rs.getTimestamp(1).toInstant();
                String lsnText = rs.getString(2);
                int serverTimeline = rs.getObject(3) == null ? id.timeline : rs.getInt(3);
                boolean inRecovery = rs.getBoolean(4);
                retainedBytes = rs.getLong(5);
                if (inRecovery != id.standby) {
                    return -1;
                }
                if (lsnText != null) {
                    serverLsn = Lsn.parse(lsnText).value();
                    serverTime = time;
                    samples.addLast(new ClockSample(time, serverLsn));
                    while (samples.size() > 600) {
                        samples.removeFirst();
                    }
                }
                if (retainedBytes > settings.retainedWarnBytes() && !retainedWarned) {
                    retainedWarned = true;
                    log.warn("replication slot {} of {} holds {} MiB of WAL on the server (warning threshold {} MiB): "
                                    + "check the repository is reachable before the server's disk fills",
                            settings.slotName(), databaseId, retainedBytes >> 20, settings.retainedWarnBytes() >> 20);
                } else if (retainedBytes < settings.retainedWarnBytes() / 2) {
                    retainedWarned = false;
                }
                return serverTimeline;
            }
        }
    }

    private Identity identify(Connection replication, Connection sql) throws SQLException {
        String systemId;
        int tli;
        Lsn position;
        try (Statement st = replication.createStatement(); ResultSet rs = st.executeQuery("IDENTIFY_SYSTEM")) {
            rs.next();
            systemId = rs.getString(1);
            tli = rs.getInt(2);
            position = Lsn.parse(rs.getString(3));
        }
        int major;
        long segmentSize;
        boolean standby;
        int port;
        try (Statement st = sql.createStatement();
             ResultSet rs = st.executeQuery("select current_setting('server_version_num')::int / 10000,"
                     + " (select setting::bigint from pg_settings where name = 'wal_segment_size'), pg_is_in_recovery(),"
                     + " current_setting('port')::int")) {
            rs.next();
            major = rs.getInt(1);
            segmentSize = rs.getLong(2);
            standby = rs.getBoolean(3);
            port = rs.getInt(4);
        }
        return new Identity(systemId + "-" + major, systemId, port, tli, position, segmentSize, standby);
    }

    /**
     * The slot's restart position, the slot made when missing. A slot the server invalidated (past max_slot_wal_keep_size:
     * PostgreSQL 13 and later keep it, marked lost, with no restart position) holds nothing and cannot be streamed from: it
     * is dropped and made again where the server is. The WAL it had held is gone; the stream then says where the recovery
     * window has its gap.
     */
    private Lsn ensureSlot(Connection sql, Connection replication) throws SQLException {
        Slot slot = slot(sql);
        if (slot != null && slot.restart() == null) {
            log.warn("replication slot {} of {} was invalidated by the server (it held more WAL than max_slot_wal_keep_size allows):"
                    + " the WAL it kept is gone; dropping it and making it again", settings.slotName(), databaseId);
            try (PreparedStatement ps = sql.prepareStatement("select pg_drop_replication_slot(?)")) {
                ps.setString(1, settings.slotName());
                ps.execute();
            }
            slot = null;
        }
        if (slot == null) {
            try (Statement st = replication.createStatement()) {
                st.execute("CREATE_REPLICATION_SLOT " + settings.slotName() + " PHYSICAL RESERVE_WAL");
            }
            log.info("created replication slot {} for {}", settings.slotName(), databaseId);
            slot = slot(sql);
        }
        if (slot == null || slot.restart() == null) {
            throw new SQLException("replication slot " + settings.slotName() + " has no restart position");
        }
        return slot.restart();
    }

    /** This stream's physical slot as the server lists it: restart null when it has none (invalidated). */
    private record Slot(Lsn restart) {
    }

    /** This stream's physical slot, or null when the server has none of that name. */
    private Slot slot(Connection sql) throws SQLException {
        try (PreparedStatement ps = sql.prepareStatement(
                "select restart_lsn::text from pg_replication_slots where slot_name = ? and slot_type = 'physical'")) {
            ps.setString(1, settings.slotName());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new Slot(rs.getString(1) == null ? null : Lsn.parse(rs.getString(1))) : null;
            }
        }
    }

    /** Archives the history files of every timeline up to the current one that the repository lacks. */
    private void archiveHistory(Connection replication, List<Fork> history) throws SQLException, IOException {
        for (int tli = 2; tli <= timeline; tli++) {
            String key = repository.layout().timelineHistory(databaseId, chain, tli);
            if (repository.store().stat(key).isPresent()) {
                // archived before: its switch (from the server's current history) is told again, in case the first
                // telling was lost to a crash or a catalog error between the upload and the record; the catalog takes it once
                for (int i = 0; i < history.size(); i++) {
                    int child = i + 1 < history.size() ? history.get(i + 1).tli() : timeline;
                    if (child == tli) {
                        listener.timelineSwitched(chain, history.get(i).tli(), tli, history.get(i).begin(), key);
                    }
                }
                continue;
            }
            byte[] content;
            try (Statement st = replication.createStatement(); ResultSet rs = st.executeQuery("TIMELINE_HISTORY " + tli)) {
                rs.next();
                content = rs.getBytes(2);
            }
            repository.putEncoded(key, new ByteArrayInputStream(content));
            Lsn switchPoint = switchPointOf(new String(content, StandardCharsets.UTF_8), tli - 1);
            log.info("archived history of timeline {} for {} (switch from {} at {})", tli, databaseId, tli - 1, switchPoint);
            listener.timelineSwitched(chain, tli - 1, tli, switchPoint, key);
        }
    }

    /** The switch point where parent ended in a history file, or zero when the history does not pass through it. */
    static Lsn switchPointOf(String history, int parent) {
        return forks(history).stream().filter(f -> f.tli() == parent).map(Fork::begin).findFirst().orElse(Lsn.ZERO);
    }

    private boolean sleepBackoff(int failures) {
        long cap = Math.min(settings.maxBackoff().toMillis(), 500L << Math.min(failures, 10));
        long delay = ThreadLocalRandom.current().nextLong(cap / 2, cap + 1);
        try {
            Thread.sleep(delay);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void publishStatus() {
        long lag = serverLsn == 0 ? 0 : Math.max(0, serverLsn - durable.value());
        double lagSeconds = serverTime == null || durableTime == null ? 0
                : Math.max(0, Duration.between(durableTime, serverTime).toMillis() / 1000.0);
        status.set(new WalStreamStatus(state, chain, timeline, durable.toString(), durableTime, segmentsArchived,
                bytesArchived, lag, lagSeconds, retainedBytes, lastError, segmentsReadLocally));
    }

    private static String describe(Exception e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
    }

    static String sha256(byte[] data, int length) {
        java.security.MessageDigest md = Codec.sha256();
        md.update(data, 0, length);
        return HexFormat.of().formatHex(md.digest());
    }

    private static String sha256Of(InputStream in) throws IOException {
        try (in) {
            java.security.MessageDigest md = Codec.sha256();
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        }
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

    private record Identity(String chain, String systemId, int port, int timeline, Lsn position, long segmentSize, boolean standby) {
    }

    /** Size of the page header that opens every WAL segment (XLogLongPageHeaderData). */
    private static final long LONG_PAGE_HEADER = 40;

    private record ClockSample(Instant time, long lsn) {
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
