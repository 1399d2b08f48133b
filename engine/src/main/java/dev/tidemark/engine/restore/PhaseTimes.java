package dev.tidemark.engine.restore;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Where a restore's time went: the wall-clock time of each phase, in the order they ran, for its log and its result
 * ("phases: ..."). A phase run twice (a recovery resumed) adds up. Notes are measured within a phase (the file writing
 * and the WAL read run side by side; restore_command's waits are part of the replay).
 */
final class PhaseTimes {
    private final Map<String, Long> nanos = new LinkedHashMap<>();
    private final Map<String, String> notes = new LinkedHashMap<>();
    private long mark = System.nanoTime();

    /** The phase that ends now took the time since the last one ended. */
    synchronized void lap(String phase) {
        long now = System.nanoTime();
        nanos.merge(phase, now - mark, Long::sum);
        mark = now;
    }

    /** Something measured inside a phase, shown after the phases. */
    synchronized void note(String what, String value) {
        notes.put(what, value);
    }

    static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.2f s", nanos / 1e9);
    }

    /** "phases: files written and WAL read 1.20 s, ... (files alone 0.90 s, ...)"; no "; " inside (the summary's separator). */
    synchronized String summary() {
        String phases = nanos.entrySet().stream().map(e -> e.getKey() + " " + seconds(e.getValue())).collect(Collectors.joining(", "));
        String inside = notes.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", "));
        return "phases: " + phases + (inside.isEmpty() ? "" : " (" + inside + ")");
    }
}
