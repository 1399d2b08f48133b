package dev.tidemark.engine.operations;

import java.time.Instant;
import java.util.List;

/**
 * What a verification of a database's repository objects found: every object the recovery window needs read whole.
 * intact: nothing missing or damaged. window: the window as the catalog has it, before anything found here.
 */
public record VerifyReport(String databaseId, Instant startedAt, Instant finishedAt, String window, int baseBackups, int walSegments,
                           int dumps, long objects, long bytesRead, List<Problem> problems) {

    public boolean intact() {
        return problems.isEmpty();
    }

    /** Something missing or damaged: the object by name, what is wrong with it, and what part of the window that costs. */
    public record Problem(Kind kind, String object, String detail, String cost) {
    }

    public enum Kind { BASE_BACKUP_MISSING, BASE_BACKUP_DAMAGED, WAL_MISSING, WAL_DAMAGED, DUMP_MISSING, DUMP_DAMAGED }
}
