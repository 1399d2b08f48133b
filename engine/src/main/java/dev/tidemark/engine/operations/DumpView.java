package dev.tidemark.engine.operations;

import java.time.Instant;
import java.util.List;

/** A logical dump. status: requested, running, completed, failed, expired. trigger: manual or scheduled. */
public record DumpView(String id, String status, String trigger, Instant requestedAt, Instant completedAt, List<String> databases,
                       Long bytes, Long storedBytes, String failure, Progress progress) {
}
