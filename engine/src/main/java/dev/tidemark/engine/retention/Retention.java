package dev.tidemark.engine.retention;

import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.DatabaseHistory;

import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.DatabaseHistory.Dump;
import dev.tidemark.engine.catalog.DatabaseHistory.WalRange;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.catalog.api.WalCut;

import java.time.DayOfWeek;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What retention removes at an instant, as a pure function of the catalog's state and policy.
 *
 * <ul>
 * <li>Base backups: every completed backup consistent within the window is kept, and the newest one before the window's
 * start (the oldest point of the window needs it); older ones expire.</li>
 * <li>WAL: of each chain, the segments before the start segment of its oldest kept backup; a chain that is not the
 * database's current one and has no kept backup goes entirely.</li>
 * <li>Scheduled dumps (one per UTC day, the newest of the day): kept for {@code dailyDumps} days, a Sunday's for
 * {@code weeklyDumps} weeks, the first Sunday of a month's for {@code monthlyDumps} months. Manual dumps: the newest
 * {@code manualDumps}.</li>
 * <li>A backup or dump a restore under way reads is kept until the restore ends, with the WAL after the backup.</li>
 * </ul>
 */
public record Retention(List<String> baseBackupIds, List<String> dumpIds, List<WalCut> walCuts) {

    public boolean isEmpty() {
        return baseBackupIds.isEmpty() && dumpIds.isEmpty() && walCuts.isEmpty();
    }

    public static Retention expire(DatabaseHistory history, Instant now) {
        Policy policy = history.policy();
        Instant floor = now.minus(policy.window());
        List<BaseBackup> completed = history.baseBackups().stream().filter(b -> b.status() == JobStatus.COMPLETED)
                .sorted(Comparator.comparing(BaseBackup::consistencyTime)).toList();
        Set<String> keep = new HashSet<>();
        BaseBackup anchor = null;
        for (BaseBackup b : completed) {
            if (!b.consistencyTime().isBefore(floor)) {
                keep.add(b.id());
            } else if (history.chain() == null || b.chain().equals(history.chain())) {
                anchor = b;
            }
        }
        if (anchor != null) {
            keep.add(anchor.id());
        }
        // a restore under way reads its backup and the WAL after it to the end: neither goes before it is done
        Set<String> inUse = new HashSet<>();
        for (DatabaseHistory.Restore r : history.restores()) {
            if (r.inProgress()) {
                if (r.backupId() != null) {
                    keep.add(r.backupId());
                }
                if (r.dumpId() != null) {
                    inUse.add(r.dumpId());
                }
            }
        }
        List<String> expiredBackups = completed.stream().map(BaseBackup::id).filter(id -> !keep.contains(id)).toList();

        List<WalCut> cuts = new ArrayList<>();
        Map<String, Long> oldestKeptStart = new LinkedHashMap<>();
        for (BaseBackup b : completed) {
            if (keep.contains(b.id())) {
                oldestKeptStart.merge(b.chain(), b.startSegmentNumber(), Math::min);
            }
        }
        Set<String> chains = new HashSet<>();
        for (WalRange r : history.wal()) {
            chains.add(r.chain());
        }
        for (String walChain : chains.stream().sorted().toList()) {
            Long before = oldestKeptStart.get(walChain);
            if (before == null) {
                if (!walChain.equals(history.chain())) {
                    cuts.add(new WalCut(walChain, null));
                }
            } else if (history.wal().stream().anyMatch(r -> r.chain().equals(walChain) && r.first() < before)) {
                cuts.add(new WalCut(walChain, before));
            }
        }
        List<String> expiredDumps = expiredDumps(history.dumps(), policy, now).stream().filter(id -> !inUse.contains(id)).toList();
        return new Retention(expiredBackups, expiredDumps, cuts);
    }

    static List<String> expiredDumps(List<Dump> dumps, Policy policy, Instant now) {
        LocalDate today = now.atZone(ZoneOffset.UTC).toLocalDate();
        List<String> expired = new ArrayList<>();
        List<Dump> manual = dumps.stream().filter(d -> d.status() == JobStatus.COMPLETED && "manual".equals(d.trigger()))
                .sorted(Comparator.comparing(Dump::requestedAt).reversed()).toList();
        for (int i = policy.manualDumps(); i < manual.size(); i++) {
            expired.add(manual.get(i).id());
        }
        Map<LocalDate, Dump> newestOfDay = new LinkedHashMap<>();
        List<Dump> scheduled = dumps.stream().filter(d -> d.status() == JobStatus.COMPLETED && !"manual".equals(d.trigger()))
                .sorted(Comparator.comparing(Dump::requestedAt)).toList();
        for (Dump d : scheduled) {
            newestOfDay.put(day(d), d);
        }
        for (Dump d : scheduled) {
            LocalDate date = day(d);
            boolean newest = newestOfDay.get(date) == d;
            if (!newest || !kept(date, today, policy)) {
                expired.add(d.id());
            }
        }
        return expired;
    }

    private static LocalDate day(Dump d) {
        return d.requestedAt().atZone(ZoneOffset.UTC).toLocalDate();
    }

    /** Whether a scheduled dump of date is kept on today by the daily, weekly and monthly rules. */
    static boolean kept(LocalDate date, LocalDate today, Policy policy) {
        long daysOld = ChronoUnit.DAYS.between(date, today);
        if (daysOld < policy.dailyDumps()) {
            return true;
        }
        boolean sunday = date.getDayOfWeek() == DayOfWeek.SUNDAY;
        if (sunday && daysOld < 7L * policy.weeklyDumps()) {
            return true;
        }
        boolean firstSunday = sunday && date.getDayOfMonth() <= 7;
        long monthsOld = ChronoUnit.MONTHS.between(date.withDayOfMonth(1), today.withDayOfMonth(1));
        return firstSunday && monthsOld < policy.monthlyDumps();
    }
}
