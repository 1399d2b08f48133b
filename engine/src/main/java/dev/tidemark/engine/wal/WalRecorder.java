package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * Turns the streamer's reports into ranges for the catalog. Complete segments of one timeline are gathered and handed
 * on as one {@link Batch} when the batch is old or large enough, when the timeline changes, or when asked
 * ({@link #flush()}); the durable position inside the partial segment is handed on with them, and on its own at a
 * slower pace, so the catalog's recovery window follows an idle database too. A week of streaming is a few thousand
 * events, not a million.
 */
public final class WalRecorder {
    /** WAL of one timeline from the start of firstSegment up to endLsn (inside lastSegment), covering times up to lastByteTime. */
    public record Batch(String chain, int timeline, String firstSegment, String lastSegment, Instant firstByteTime,
                        Instant lastByteTime, long bytes, String endLsn, int segments) {
    }

    private final Consumer<Batch> sink;
    private final Duration maxAge;
    private final Duration progressInterval;
    private final int maxSegments;
    private final Clock clock;
    private final long segmentSize;
    private String chain;
    private int timeline;
    private WalSegment first;
    private WalSegment last;
    private long bytes;
    private int segments;
    private Instant openedAt;
    private Instant batchStartTime;
    private String durableChain;
    private int durableTimeline;
    private Instant lastDurableTime;
    private Lsn lastDurableLsn;
    private Lsn emittedLsn;
    private Instant emittedAt;

    public WalRecorder(Consumer<Batch> sink, Duration maxAge, Duration progressInterval, int maxSegments, Clock clock, long segmentSize) {
        this.sink = sink;
        this.maxAge = maxAge;
        this.progressInterval = progressInterval;
        this.maxSegments = maxSegments;
        this.clock = clock;
        this.segmentSize = segmentSize;
    }

    /** Called for each complete segment, in order. */
    public synchronized void segmentArchived(String segmentChain, WalSegment segment, long segmentBytes) {
        boolean continues = last != null && segmentChain.equals(chain) && segment.timeline() == timeline
                && segment.number() == last.number() + 1;
        if (last != null && !continues) {
            flushLocked();
        }
        if (first == null) {
            chain = segmentChain;
            timeline = segment.timeline();
            first = segment;
            openedAt = clock.instant();
            batchStartTime = lastDurableTime;
        }
        last = segment;
        bytes += segmentBytes;
        segments++;
        if (segments >= maxSegments) {
            flushLocked();
        }
    }

    /** Called when WAL of chain/timeline below lsn is durable, with the newest server time it covers. */
    public synchronized void durable(String durableChain, int durableTimeline, Lsn lsn, Instant serverTime) {
        if (serverTime != null && (lastDurableTime == null || serverTime.isAfter(lastDurableTime))) {
            lastDurableTime = serverTime;
        }
        this.durableChain = durableChain;
        this.durableTimeline = durableTimeline;
        lastDurableLsn = lsn;
        Instant now = clock.instant();
        if (first != null && Duration.between(openedAt, now).compareTo(maxAge) >= 0) {
            flushLocked();
        } else if (first == null && (emittedAt == null || Duration.between(emittedAt, now).compareTo(progressInterval) >= 0)) {
            flushLocked();
        }
    }

    /** Where the segments gathered for the next batch begin, or null when none are. */
    public synchronized Lsn pendingFrom() {
        return first == null ? null : first.start();
    }

    /** Hands on what is gathered now, and the durable position (before a restore is planned, after a backup, at shutdown). */
    public synchronized void flush() {
        flushLocked();
    }

    private void flushLocked() {
        Batch batch;
        if (first != null && lastDurableTime == null) {
            return; // no server time known yet (a stream that just started): the segments wait for one, none is dropped
        }
        if (first != null) {
            WalSegment end = last;
            String endLsn = last.end().toString();
            Instant endTime = lastDurableTime;
            if (lastDurableLsn != null && chain.equals(durableChain) && durableTimeline == timeline
                    && lastDurableLsn.compareTo(last.end()) > 0) {
                end = WalSegment.containing(timeline, lastDurableLsn, segmentSize);
                endLsn = lastDurableLsn.toString();
            }
            batch = new Batch(chain, timeline, first.name(), end.name(), batchStartTime != null ? batchStartTime : endTime, endTime, bytes,
                    endLsn, segments);
            first = null;
            last = null;
            bytes = 0;
            segments = 0;
            openedAt = null;
        } else if (lastDurableLsn != null && lastDurableTime != null && (emittedLsn == null || lastDurableLsn.compareTo(emittedLsn) > 0)) {
            WalSegment partial = WalSegment.containing(durableTimeline, lastDurableLsn, segmentSize);
            batch = new Batch(durableChain, durableTimeline, partial.name(), partial.name(), lastDurableTime, lastDurableTime, 0,
                    lastDurableLsn.toString(), 0);
        } else {
            return;
        }
        if (batch.lastByteTime() == null) {
            return;
        }
        emittedLsn = Lsn.parse(batch.endLsn());
        emittedAt = clock.instant();
        sink.accept(batch);
    }
}
