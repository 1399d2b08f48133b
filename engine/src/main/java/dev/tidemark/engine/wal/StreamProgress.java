package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What one stream has made durable and how it is doing, shared by the parts of the stream (all on its thread); the
 * status the API reads is published from it.
 */
final class StreamProgress {
    private final WalListener listener;
    private final ServerClock clock;
    private final AtomicReference<WalStreamStatus> status = new AtomicReference<>();

    String chain;
    int timeline;
    Lsn durable = Lsn.ZERO;
    Instant durableTime;
    long segmentsArchived;
    long bytesArchived;
    long segmentsReadLocally;
    String lastError;
    String state = "starting";
    /** The stream runs in synchronous mode: the server's commits wait for what it has not made durable. */
    boolean synchronous;
    /** Since when (System.nanoTime) received WAL waits to become durable, in synchronous mode; 0 while none does. */
    private volatile long waitingSince;
    private boolean stallReported;
    /** Synchronous mode: the commit times read from the WAL as it arrives, which date what is durable; else null. */
    CommitTimes commitTimes;

    StreamProgress(WalListener listener, ServerClock clock) {
        this.listener = listener;
        this.clock = clock;
    }

    WalStreamStatus status() {
        return status.get();
    }

    /** Dates what is durable by the newest sample that covers it, and tells the listener. */
    void reportDurable() {
        Instant time = clock.timeOf(durable);
        Instant commit = commitTimes == null ? null : commitTimes.lastCommitAtOrBelow(durable);
        if (commit != null && (time == null || commit.isAfter(time))) {
            time = commit; // synchronous mode: the window ends at the last durable commit itself
        }
        if (time != null && (durableTime == null || time.isAfter(durableTime))) {
            durableTime = time;
        }
        publishStatus();
        if (durableTime != null) {
            listener.durable(chain, timeline, durable, durableTime);
        }
    }

    /** In synchronous mode: WAL waits to become durable from now on, unless it did already. */
    void waiting(long now) {
        if (waitingSince == 0) {
            waitingSince = now;
        }
    }

    /** Since when WAL waits (System.nanoTime), or 0. */
    long waitingSince() {
        return waitingSince;
    }

    /** In synchronous mode: everything received is durable; a stall reported before is over. */
    void caughtUp() {
        long since = waitingSince;
        waitingSince = 0;
        if (stallReported) {
            stallReported = false;
            Duration waited = Duration.ofNanos(System.nanoTime() - since);
            listener.synchronousResumed(waited);
            publishStatus();
        }
    }

    /** Reports, once per stall, WAL that has waited longer than warnAfter to become durable. */
    void checkStall(Duration warnAfter) {
        long since = waitingSince;
        if (!stallReported && since != 0 && System.nanoTime() - since >= warnAfter.toNanos()) {
            stallReported = true;
            listener.synchronousStalled(Duration.ofNanos(System.nanoTime() - since), lastError);
            publishStatus();
        }
    }

    /** Seconds WAL has waited to become durable in synchronous mode, counted once the stall is reported; else 0. */
    private double stalledSeconds() {
        long since = waitingSince;
        return stallReported && since != 0 ? (System.nanoTime() - since) / (double) TimeUnit.SECONDS.toNanos(1) : 0;
    }

    void publishStatus() {
        long serverLsn = clock.serverLsn();
        Instant serverTime = clock.serverTime();
        long lag = serverLsn == 0 ? 0 : Math.max(0, serverLsn - durable.value());
        double lagSeconds = serverTime == null || durableTime == null ? 0
                : Math.max(0, Duration.between(durableTime, serverTime).toMillis() / 1000.0);
        status.set(new WalStreamStatus(state, chain, timeline, durable.toString(), durableTime, segmentsArchived,
                bytesArchived, lag, lagSeconds, clock.retainedBytes(), lastError, segmentsReadLocally, synchronous, stalledSeconds()));
    }
}
