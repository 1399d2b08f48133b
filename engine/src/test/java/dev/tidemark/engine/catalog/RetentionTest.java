package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.retention.Retention;
import dev.tidemark.engine.catalog.api.WalCut;
import org.junit.jupiter.api.Test;

import java.time.DayOfWeek;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

class RetentionTest {
    private static final Instant NOW = Instant.parse("2026-11-24T12:00:00Z");

    @Test
    void keepsTheBackupTheOldestPointOfTheWindowNeedsAndTheWalFromIt() {
        Histories h = Histories.registered(NOW.minus(Duration.ofDays(30)))
                .wal(1, 100, NOW.minus(Duration.ofDays(30)), NOW.minusSeconds(10))
                .backup("old", 2, NOW.minus(Duration.ofDays(20)))
                .backup("anchor", 30, NOW.minus(Duration.ofDays(9)))
                .backup("recent", 60, NOW.minus(Duration.ofDays(2)));
        Retention r = Retention.expire(h.get(), NOW);
        assertThat(r.baseBackupIds()).containsExactly("old");
        assertThat(r.walCuts()).containsExactly(new WalCut(Histories.CHAIN, 30L));
        h.apply(new DatabaseEvent.BackupsExpired("db", r.baseBackupIds(), r.dumpIds(), r.walCuts(), NOW));
        assertThat(Retention.expire(h.get(), NOW).isEmpty()).as("expiry is idempotent").isTrue();
        RecoveryWindow w = RecoveryWindow.of(h.get(), NOW, null);
        assertThat(w.start()).as("the whole 7 days stay restorable").isEqualTo(NOW.minus(Duration.ofDays(7)));
    }

    @Test
    void aBackupOrDumpARestoreIsReadingStaysUntilTheRestoreEnds() {
        Histories h = Histories.registered(NOW.minus(Duration.ofDays(30)))
                .wal(1, 100, NOW.minus(Duration.ofDays(30)), NOW.minusSeconds(10))
                .backup("old", 2, NOW.minus(Duration.ofDays(20)))
                .backup("anchor", 30, NOW.minus(Duration.ofDays(9)))
                .dump("d1", "manual", NOW.minus(Duration.ofDays(3)));
        for (int i = 0; i < 10; i++) {
            h.dump("later-" + i, "manual", NOW.minus(Duration.ofDays(2)).plusSeconds(i));
        }
        h.apply(new DatabaseEvent.RestoreRequested("db", "r1", "pitr", NOW.minus(Duration.ofDays(19)), false, "/restored", 5999, false,
                "old", "k", "ab".repeat(32), Histories.CHAIN, 1, null, null, null, NOW.minusSeconds(60)));
        h.apply(new DatabaseEvent.RestoreRequested("db", "r2", "dump", null, false, null, null, false, null, null, null, null, null,
                "d1", "postgres", "copy", NOW.minusSeconds(60)));
        h.apply(new DatabaseEvent.RestoreStarted("db", "r1", NOW.minusSeconds(59)));
        Retention during = Retention.expire(h.get(), NOW);
        assertThat(during.baseBackupIds()).as("restore r1 reads it").isEmpty();
        assertThat(during.walCuts()).as("and the WAL from its start on").containsExactly(new WalCut(Histories.CHAIN, 2L));
        assertThat(during.dumpIds()).as("restore r2 reads d1").isEmpty();

        h.apply(new DatabaseEvent.RestoreFailed("db", "r1", "stopped", NOW.minusSeconds(30)));
        h.apply(new DatabaseEvent.RestoreStarted("db", "r2", NOW.minusSeconds(30)));
        h.apply(new DatabaseEvent.RestoreCompleted("db", "r2", null, null, null, null, null, "restored", NOW.minusSeconds(20)));
        Retention after = Retention.expire(h.get(), NOW);
        assertThat(after.baseBackupIds()).containsExactly("old");
        assertThat(after.walCuts()).containsExactly(new WalCut(Histories.CHAIN, 30L));
        assertThat(after.dumpIds()).containsExactly("d1");
    }

    @Test
    void aSimulatedYearOfDailyDumpsKeepsExactlyWhatTheRulesSay() {
        LocalDate first = LocalDate.parse("2025-10-01");
        LocalDate last = LocalDate.parse("2026-11-24");
        Histories h = Histories.registered(first.atStartOfDay().toInstant(ZoneOffset.UTC));
        int manual = 0;
        for (LocalDate day = first; !day.isAfter(last); day = day.plusDays(1)) {
            Instant at = day.atTime(1, 0).toInstant(ZoneOffset.UTC);
            h.dump("s-" + day, "scheduled", at);
            if (day.getDayOfMonth() % 3 == 0) {
                h.dump("m-" + (manual++), "manual", at.plusSeconds(3600));
            }
            Instant later = at.plusSeconds(7200);
            Retention r = Retention.expire(h.get(), later);
            h.apply(new DatabaseEvent.BackupsExpired("db", r.baseBackupIds(), r.dumpIds(), r.walCuts(), later));
        }
        Set<String> kept = h.get().dumps().stream().filter(d -> d.status() == JobStatus.COMPLETED).map(DatabaseHistory.Dump::id)
                .collect(Collectors.toCollection(TreeSet::new));

        Set<String> expected = new TreeSet<>();
        for (LocalDate day = first; !day.isAfter(last); day = day.plusDays(1)) {
            long age = java.time.temporal.ChronoUnit.DAYS.between(day, last);
            boolean sunday = day.getDayOfWeek() == DayOfWeek.SUNDAY;
            boolean firstSunday = sunday && day.getDayOfMonth() <= 7;
            long months = java.time.temporal.ChronoUnit.MONTHS.between(day.withDayOfMonth(1), last.withDayOfMonth(1));
            if (age < 7 || (sunday && age < 28) || (firstSunday && months < 12)) {
                expected.add("s-" + day);
            }
        }
        for (int i = Math.max(0, manual - 10); i < manual; i++) {
            expected.add("m-" + i);
        }
        assertThat(kept).isEqualTo(expected);
        assertThat(expected.stream().filter(id -> id.startsWith("s-")).count()).as("7 daily + Sundays + first Sundays").isBetween(17L, 22L);
    }

    @Test
    void aLaterDumpOfTheSameDayReplacesTheEarlierOne() {
        Instant day = Instant.parse("2026-11-24T01:00:00Z");
        Histories h = Histories.registered(day.minusSeconds(100)).dump("early", "scheduled", day).dump("late", "scheduled", day.plusSeconds(600));
        assertThat(Retention.expire(h.get(), day.plusSeconds(3600)).dumpIds()).containsExactly("early");
        List<String> none = new ArrayList<>(Retention.expire(Histories.registered(day).get(), day).dumpIds());
        assertThat(none).isEmpty();
    }
}
