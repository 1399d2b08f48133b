package dev.tidemark.engine.wal;

import java.time.Instant;

/**
 * A point-in-time view of one stream, for the API and metrics.
 *
 * @param state            "starting", "catching-up" (reading a backlog from the primary's pg_wal), "streaming", "retrying", "stopped" or "chain-changed"
 * @param durableLsn       every byte below it is in the repository (text form)
 * @param durableTime      the newest server time whose WAL is durable
 * @param lagBytes         server WAL position minus durable position
 * @param lagSeconds       server time minus durable time
 * @param retainedBytes    WAL the replication slot holds on the server
 * @param segmentsReadLocally segments of a backlog read from the primary's pg_wal instead of the stream (since the start)
 * @param synchronous      the stream runs in synchronous mode
 * @param stalledSeconds   in synchronous mode, how long received WAL has waited to become durable once that passed the
 *                         stall warning (the server's commits wait meanwhile); 0 otherwise
 */
public record WalStreamStatus(String state, String chain, int timeline, String durableLsn, Instant durableTime,
                              long segmentsArchived, long bytesArchived, long lagBytes, double lagSeconds,
                              long retainedBytes, String lastError, long segmentsReadLocally, boolean synchronous,
                              double stalledSeconds) {
}
