package dev.tidemark.engine.operations;

import java.time.Instant;

/**
 * A base backup. status: requested, running, completed, failed, expired. trigger: manual, scheduled, after-restore.
 * progress is present while it runs; queuePosition: while it waits for its turn under the node's limit of jobs running at once, its place in the queue
 * (1: next), otherwise null.
 */
public record BackupView(String id, String status, String trigger, Instant requestedAt, Instant startedAt, Instant completedAt,
                         Instant consistencyTime, String startLsn, String stopLsn, Integer timeline, Long bytes,
                         Long storedBytes, Integer badPages, String failure, Progress progress, Integer queuePosition) {
}
