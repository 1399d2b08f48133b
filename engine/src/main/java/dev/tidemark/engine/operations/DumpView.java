package dev.tidemark.engine.operations;

import java.time.Instant;
import java.util.List;

/**
 * A logical dump. status: requested, running, completed, failed, expired. trigger: manual or scheduled.
 * queuePosition: while it waits for its turn under the node's limit of jobs running at once, its place in the queue
 * (1: next), otherwise null.
 */
public record DumpView(String id, String status, String trigger, Instant requestedAt, Instant completedAt, List<String> databases,
                       Long bytes, Long storedBytes, String failure, Progress progress, Integer queuePosition) {
}
