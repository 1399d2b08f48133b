package dev.tidemark.engine.catalog.api;


import java.time.Duration;
import java.time.Instant;

/**
 * A database's protection policy, with a managed platform's defaults: a 7-day recovery window, a weekly base backup
 * (Sunday 03:00 UTC), a daily dump (01:00 UTC) kept one a day for 7 days, the Sunday one for 4 weeks and the first
 * Sunday of the month for 12 months, and the last 10 manual dumps; WAL streamed asynchronously.
 *
 * @param synchronous the server may acknowledge a commit only once its WAL is durable in the repository (the stream names
 *                    itself so that synchronous_standby_names can list it, and reports as flushed only what is durable);
 *                    absent from events written before it existed, which read as false
 */
public record Policy(Duration window, String baseBackupSchedule, String dumpSchedule, int dailyDumps, int weeklyDumps,
                     int monthlyDumps, int manualDumps, boolean synchronous) {

    public Policy {
        if (window == null || window.compareTo(Duration.ofHours(1)) < 0 || window.compareTo(Duration.ofDays(400)) > 0) {
            throw new IllegalArgumentException("recovery window " + (window == null ? "(none)" : readable(window))
                    + " is out of range: use 1 hour to 400 days (e.g. 7d, 36h or P7D)");
        }
        Schedules.lastWeekly(baseBackupSchedule, Instant.EPOCH.plus(Duration.ofDays(30)));
        Schedules.lastDaily(dumpSchedule, Instant.EPOCH.plus(Duration.ofDays(30)));
        for (int n : new int[]{dailyDumps, weeklyDumps, monthlyDumps, manualDumps}) {
            if (n < 0 || n > 1000) {
                throw new IllegalArgumentException("dump retention counts must be between 0 and 1000, not " + n);
            }
        }
    }

    /** A window as an operator writes it: "7d", "36h", "90m", or ISO-8601 for anything finer or negative. */
    static String readable(Duration d) {
        if (d.isNegative() || d.toNanosPart() != 0 || d.toSecondsPart() != 0) {
            return d.toString();
        }
        if (d.toMinutes() % (24 * 60) == 0) {
            return d.toDays() + "d";
        }
        return d.toMinutes() % 60 == 0 ? d.toHours() + "h" : d.toMinutes() + "m";
    }

    public static Policy defaults() {
        return new Policy(Duration.ofDays(7), "SUN 03:00", "01:00", 7, 4, 12, 10, false);
    }

    /** This policy with synchronous streaming on or off; null keeps it. */
    public Policy withSynchronous(Boolean on) {
        return on == null ? this : new Policy(window, baseBackupSchedule, dumpSchedule, dailyDumps, weeklyDumps, monthlyDumps,
                manualDumps, on);
    }

    /** This policy with the given changes; null keeps a value. */
    public Policy with(Duration newWindow, String newBaseBackupSchedule, String newDumpSchedule, Integer daily, Integer weekly,
                       Integer monthly, Integer manual) {
        return new Policy(newWindow != null ? newWindow : window,
                newBaseBackupSchedule != null ? Schedules.canonicalWeekly(newBaseBackupSchedule) : baseBackupSchedule,
                newDumpSchedule != null ? Schedules.canonicalDaily(newDumpSchedule) : dumpSchedule,
                daily != null ? daily : dailyDumps, weekly != null ? weekly : weeklyDumps,
                monthly != null ? monthly : monthlyDumps, manual != null ? manual : manualDumps, synchronous);
    }
}
