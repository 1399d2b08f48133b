package dev.tidemark.engine.operations;

import java.time.Instant;

/**
 * A restore. status: requested, running, completed, failed. target: an ISO-8601 time or "latest".
 * reachedTime is the time of the last transaction replayed; message says what happened; queuePosition: while it waits for its turn under the node's limit of jobs running at once, its place in the queue
 * (1: next), otherwise null.
 */
public record RestoreView(String id, String status, String target, String backupId, String targetDir, Integer port,
                          boolean inPlace, Instant requestedAt, Instant startedAt, Instant completedAt, Instant reachedTime,
                          String message, String failure, Progress progress, Integer queuePosition) {
}
