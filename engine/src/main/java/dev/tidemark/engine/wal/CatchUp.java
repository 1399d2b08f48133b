package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.wal.ReplicationSlot.SlotAdvancer;
import dev.tidemark.engine.wal.SegmentUploads.ConflictInCatchUp;
import dev.tidemark.engine.wal.WalStreamer.Fork;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * Catches a stream up with a backlog of completed segments by reading them from the primary's own pg_wal instead of
 * through the replication protocol, as far as they prove themselves ({@link LocalWal}); used when the primary's data
 * directory is readable here.
 */
final class CatchUp {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class); // the stream's log lines keep their logger
    /** Behind the server's flushed position by at least this many segments, a catch-up reads the primary's pg_wal. */
    static final long MIN_SEGMENTS = 4;

    private final String databaseId;
    private final WalStreamSettings settings;
    private final StreamProgress progress;
    private final ServerClock clock;
    private final ReplicationSlot slot;
    private final SegmentUploads uploads;
    private final BooleanSupplier stopped;
    private volatile Path pgdata;
    private String localRefusal;
    private Lsn lastCatchUpStart;

    CatchUp(String databaseId, WalStreamSettings settings, StreamProgress progress, ServerClock clock, ReplicationSlot slot,
            SegmentUploads uploads, BooleanSupplier stopped) {
        this.databaseId = databaseId;
        this.settings = settings;
        this.progress = progress;
        this.clock = clock;
        this.slot = slot;
        this.uploads = uploads;
        this.stopped = stopped;
    }

    /** The primary's data directory, readable here; without it, everything comes through the stream. */
    void readFrom(Path pgdata) {
        this.pgdata = pgdata;
    }

    /**
     * Reads the backlog from start on. Each segment is uploaded and acknowledged in order as a streamed one is, the slot
     * moved with pg_replication_slot_advance. Returns where the stream goes on (the end of what was made durable, or start
     * when nothing was), or null when the attempt should end: stopped, or the server changed timeline or role meanwhile.
     */
    Lsn run(Connection sql, ServerIdentity id, Lsn start, Lsn slotRestart, List<Fork> history) throws Exception {
        Path pgdata = this.pgdata;
        long segmentSize = id.segmentSize();
        if (pgdata == null || id.standby() || start.value() % segmentSize != 0
                || Timelines.timelineOf(history, id.timeline(), start, segmentSize)[1] >= 0) {
            return start;
        }
        Lsn flushed = flushedPosition(sql);
        if (flushed.value() - start.value() < MIN_SEGMENTS * segmentSize) {
            return start;
        }
        LocalWal local;
        try {
            local = LocalWal.of(pgdata, id.systemId(), id.port(), sql);
            localRefusal = null;
        } catch (LocalWal.UnusableException e) {
            if (!e.getMessage().equals(localRefusal)) {
                localRefusal = e.getMessage();
                log.info("WAL of {} is {} MiB behind the server; it comes through the stream, as {}'s pg_wal cannot be read here: {}",
                        databaseId, (flushed.value() - start.value()) >> 20, pgdata, e.getMessage());
            }
            return start;
        }
        clock.segmentSize(segmentSize);
        progress.timeline = id.timeline();
        long systemId = Long.parseUnsignedLong(id.systemId());
        if (!start.equals(lastCatchUpStart)) { // a retry from the same place (storage still out) says nothing new
            lastCatchUpStart = start;
            log.info("WAL of {} is {} MiB behind the server: reading its completed segments from {} from {} on", databaseId,
                    (flushed.value() - start.value()) >> 20, pgdata.resolve("pg_wal"), start);
        }
        progress.state = "catching-up";
        progress.lastError = null;
        progress.publishStatus();
        SlotAdvancer advancer = slot.advancer(sql, slotRestart);
        SegmentUploads.Queue queue = uploads.open(advancer, segmentSize);
        WalSegment segment = WalSegment.containing(id.timeline(), start, segmentSize);
        String refused = null;
        ConflictInCatchUp conflict = null;
        boolean serverChanged = false;
        long nextSample = 0;
        try {
            while (!stopped.getAsBoolean()) {
                queue.completeReady();
                long now = System.nanoTime();
                if (now >= nextSample) {
                    if (clock.sample(sql, id) != id.timeline()) {
                        serverChanged = true;
                        break;
                    }
                    nextSample = now + settings.sampleInterval().toNanos();
                    progress.reportDurable();
                }
                if (segment.end().compareTo(flushed) > 0) {
                    flushed = flushedPosition(sql);
                    if (flushed.value() - segment.start().value() < MIN_SEGMENTS * segmentSize) {
                        break; // the rest, and what follows, through the stream
                    }
                }
                byte[] buffer = queue.buffer(); // borrowed from the engine's segment buffers until its upload is done
                try {
                    refused = local.read(segment, systemId, buffer);
                } catch (Exception e) {
                    queue.giveBack(buffer);
                    throw e;
                }
                if (refused != null) {
                    queue.giveBack(buffer);
                    break;
                }
                queue.submit(segment, buffer);
                segment = segment.next();
            }
            queue.completeAll();
        } catch (ConflictInCatchUp e) {
            refused = e.getMessage();
            segment = e.segment;
            conflict = e;
        } finally {
            queue.close(); // nothing more acknowledged unless drained; the stream or the next attempt sends the rest
        }
        if (conflict != null) {
            queue.forgetAfterConflict(conflict);
        }
        Lsn durable = progress.durable;
        long made = Math.max(0, (durable.value() - start.value()) / segmentSize);
        if (made > 0) {
            progress.segmentsReadLocally += made;
            advancer.advance(durable);
        }
        progress.publishStatus();
        if (refused != null) {
            log.warn("WAL of {}: stopped reading pg_wal at {} after {} segments, the stream takes over from there: {}", databaseId,
                    segment, made, refused);
        } else if (made > 0 || stopped.getAsBoolean() || serverChanged) {
            log.info("WAL of {}: {} segments read from pg_wal up to {} ({}); {}", databaseId, made, durable,
                    advancer.givenUp() ? "the slot left where it was" : "slot moved to " + advancer.advanced(),
                    stopped.getAsBoolean() ? "stopping" : serverChanged ? "the server changed timeline or role: reconnecting" : "streaming from there");
        }
        if (stopped.getAsBoolean() || serverChanged) {
            return null;
        }
        return made > 0 ? durable.segmentStart(segmentSize) : start;
    }

    private static Lsn flushedPosition(Connection sql) throws SQLException {
        return new ServerQueries(sql).walFlushPosition();
    }
}
