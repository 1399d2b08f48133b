package dev.tidemark.engine.operations;

import java.time.Duration;

/**
 * A change of a database's policy; null fields keep their value.
 *
 * @param baseBackupSchedule day and UTC time of the weekly base backup, e.g. "SUN 03:00"
 * @param dumpSchedule       UTC time of the daily dump, e.g. "01:00"
 * @param synchronous        WAL durable in the repository before the server acknowledges a commit (see docs/operations.md)
 */
public record PolicyChange(Duration window, String baseBackupSchedule, String dumpSchedule, Integer dailyDumps,
                           Integer weeklyDumps, Integer monthlyDumps, Integer manualDumps, Boolean synchronous) {
}
