package dev.tidemark.engine.operations;

import dev.tidemark.engine.catalog.RecoveryWindow;

import java.time.Instant;
import java.util.List;

/**
 * The recovery window: every second in [start, end] can be restored, except inside the excluded spans (history an
 * in-place restore rolled back); empty (null bounds) until the first backup is usable.
 */
public record WindowView(Instant start, Instant end, String note, List<RecoveryWindow.Gap> excluded) {
}
