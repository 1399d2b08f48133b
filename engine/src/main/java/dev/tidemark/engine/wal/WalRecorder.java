package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * Turns the streamer's per-segment reports into ranges for the catalog: contiguous segments of one timeline are
 * gathered and handed on as one {@link Batch} when the batch is old or large enough, when the timeline changes, or
 * when asked ({@link #flush()}), so a week of streaming is a few thousand events, not a million.
 */
public final class WalRecorder {
    /** Archived WAL of one timeline: segments first..last, and the server times their bytes cover. */
    public record Batch(String chain, int timeline, String firstSegment, String lastSegment, Instant firstByteTime,
                        Instant lastByteTime, long bytes, String endLsn, int segments) {
    }

    private final Consumer<Batch> sink;
    private final Duration maxAge;
    private final int maxSegments;
    private final Clock clock;
    private String chain;
    private int timeline;
    private WalSegment first;
    private WalSegment last;
    private long bytes;
    private int segments;
    private Instant openedAt;
    private Instant batchStartTime;
    private Instant lastDurableTime;
    private Lsn lastDurableLsn;

    public WalRecorder(Consumer<Batch> sink, Duration maxAge, int maxSegments, Clock clock) {
        this.sink = sink;
        this.maxAge = maxAge;
        this.maxSegments = maxSegments;
        this.clock = clock;
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

    /** Called when WAL below lsn is durable, with the newest server time it covers. */
    public synchronized void durable(Lsn lsn, Instant serverTime) {
        if (serverTime != null && (lastDurableTime == null || serverTime.isAfter(lastDurableTime))) {
            lastDurableTime = serverTime;
        }
        lastDurableLsn = lsn;
        if (first != null && openedAt != null && Duration.between(openedAt, clock.instant()).compareTo(maxAge) >= 0) {
            flushLocked();
        }
    }

    /** Hands on what is gathered now (before a restore is planned, at shutdown). */
    public synchronized void flush() {
        flushLocked();
    }

    private void flushLocked() {
        if (first == null) {
            return;
        }
        Instant end = lastDurableTime;
        Instant start = batchStartTime != null ? batchStartTime : end;
        String endLsn = last.end().toString();
        if (lastDurableLsn != null && lastDurableLsn.compareTo(last.end()) > 0) {
            endLsn = lastDurableLsn.toString();
        }
        Batch batch = new Batch(chain, timeline, first.name(), last.name(), start, end, bytes, endLsn, segments);
        first = null;
        last = null;
        bytes = 0;
        segments = 0;
        openedAt = null;
        sink.accept(batch);
    }
}
