package dev.tidemark.engine.operations;

import java.time.Instant;
import java.util.List;

/**
 * The recovery window: every second in [start, end] can be restored, except inside the excluded spans (history an
 * in-place restore rolled back); empty (null bounds) until the first backup is usable.
 */
public record WindowView(Instant start, Instant end, String note, List<Excluded> excluded) {

    /** A span the window excludes: history after, before, rolled back by restore restoreId. */
    public record Excluded(Instant after, Instant before, String restoreId) {
    }
}
