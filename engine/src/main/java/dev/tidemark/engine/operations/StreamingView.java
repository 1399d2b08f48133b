package dev.tidemark.engine.operations;

import java.time.Instant;

/**
 * WAL streaming of one database as it is now.
 *
 * @param synchronous       the policy asks for synchronous mode
 * @param applicationName   in synchronous mode, the name the stream gives the server (to list in synchronous_standby_names)
 * @param synchronousState  in synchronous mode, whether the server waits for the stream at commit: its walsender's
 *                          sync_state ("sync", "quorum", "potential", "async") or "not connected"; shown for one database
 *                          (null in lists, and in asynchronous mode)
 * @param stalledSeconds    in synchronous mode, how long WAL has waited to become durable past the stall warning; else 0
 * <p>
 * The numbers are measured by the node that streams the database: on another node timeline, durableLsn and durableTime
 * are what the streaming node last shared (a few seconds old) and the rest is null; on a database no node streams
 * (stopped, deregistered) they are null.
 */
public record StreamingView(String state, String chain, Integer timeline, String durableLsn, Instant durableTime, Long lagBytes,
                            Double lagSeconds, Long retainedBytes, Long segmentsArchived, String lastError, boolean synchronous,
                            String applicationName, String synchronousState, Double stalledSeconds) {
}
