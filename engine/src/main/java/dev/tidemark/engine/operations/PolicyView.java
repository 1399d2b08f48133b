package dev.tidemark.engine.operations;

import java.time.Duration;

/** A database's policy: window, schedules (UTC), dump retention counts, and whether WAL is streamed synchronously. */
public record PolicyView(Duration window, String baseBackupSchedule, String dumpSchedule, int dailyDumps, int weeklyDumps,
                         int monthlyDumps, int manualDumps, boolean synchronous) {
}
