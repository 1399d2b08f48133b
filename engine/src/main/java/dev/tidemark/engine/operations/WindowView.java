package dev.tidemark.engine.operations;

import java.time.Instant;

/** The recovery window: every second in [start, end] can be restored; empty (null bounds) until the first backup is usable. */
public record WindowView(Instant start, Instant end, String note) {
}
