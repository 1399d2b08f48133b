package dev.tidemark.engine.operations;

import java.time.Instant;

/** WAL streaming of one database as it is now. */
public record StreamingView(String state, String chain, int timeline, String durableLsn, Instant durableTime, long lagBytes,
                            double lagSeconds, long retainedBytes, long segmentsArchived, String lastError) {
}
