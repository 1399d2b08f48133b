package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;

import java.time.Duration;
import java.time.Instant;
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
        if (time != null && (durableTime == null || time.isAfter(durableTime))) {
            durableTime = time;
        }
        publishStatus();
        if (durableTime != null) {
            listener.durable(chain, timeline, durable, durableTime);
        }
    }

    void publishStatus() {
        long serverLsn = clock.serverLsn();
        Instant serverTime = clock.serverTime();
        long lag = serverLsn == 0 ? 0 : Math.max(0, serverLsn - durable.value());
        double lagSeconds = serverTime == null || durableTime == null ? 0
                : Math.max(0, Duration.between(durableTime, serverTime).toMillis() / 1000.0);
        status.set(new WalStreamStatus(state, chain, timeline, durable.toString(), durableTime, segmentsArchived,
                bytesArchived, lag, lagSeconds, clock.retainedBytes(), lastError, segmentsReadLocally));
    }
}
