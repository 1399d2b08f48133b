package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands.LiveWal;
import dev.tidemark.engine.catalog.api.DatabaseEvent.TimelineSwitched;
import dev.tidemark.engine.catalog.api.DatabaseEvent.WalArchived;
import dev.tidemark.engine.postgres.WalSegment;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RecoveryWindowTest {
    private static final Instant T0 = Instant.parse("2026-11-20T03:00:00Z");
    private static final Instant NOW = Instant.parse("2026-11-24T12:00:00Z");

    @Test
    void emptyUntilABaseBackupHasCompleted() {
        RecoveryWindow w = RecoveryWindow.of(Histories.registered(T0).wal(1, 3, T0, T0.plusSeconds(60)).get(), NOW, null);
        assertThat(w.isEmpty()).isTrue();
        assertThat(w.note()).contains("no base backup");
    }

    @Test
    void runsFromTheBackupsConsistencyToTheNewestDurableWal() {
        DatabaseHistory h = Histories.registered(T0).wal(1, 5, T0, T0.plusSeconds(100)).backup("b1", 2, T0.plusSeconds(10))
                .wal(6, 9, T0.plusSeconds(100), T0.plusSeconds(500)).get();
        RecoveryWindow w = RecoveryWindow.of(h, NOW, null);
        assertThat(w.start()).isEqualTo(T0.plusSeconds(10));
        assertThat(w.end()).isEqualTo(T0.plusSeconds(500));
        assertThat(w.describe()).isEqualTo("[2026-11-20T03:00:10Z, 2026-11-20T03:08:20Z]");
    }

    @Test
    void aBoundShownToTheMicrosecondIsRoundedInwardsSoATimeShownInsideIsRestorable() {
        java.time.Instant t = java.time.Instant.parse("2026-11-20T03:22:51.880959523Z");
        assertThat(RecoveryWindow.format(t)).as("an end, or a gap's start: down").isEqualTo("2026-11-20T03:22:51.880959Z");
        assertThat(RecoveryWindow.formatUp(t)).as("a start, or a gap's end: up").isEqualTo("2026-11-20T03:22:51.880960Z");
        assertThat(RecoveryWindow.formatUp(java.time.Instant.parse("2026-11-20T03:22:51.880959Z"))).isEqualTo("2026-11-20T03:22:51.880959Z");
    }

    @Test
    void aGapEndsTheWindowAtTheGapUntilANewBackup() {
        Histories h = Histories.registered(T0).wal(1, 5, T0, T0.plusSeconds(100)).backup("b1", 2, T0.plusSeconds(10))
                .wal(8, 9, T0.plusSeconds(300), T0.plusSeconds(500));
        RecoveryWindow w = RecoveryWindow.of(h.get(), NOW, null);
        assertThat(w.end()).isEqualTo(T0.plusSeconds(100));
        h.backup("b2", 8, T0.plusSeconds(320));
        RecoveryWindow after = RecoveryWindow.of(h.get(), NOW, null);
        assertThat(after.start()).as("the stretch after the gap").isEqualTo(T0.plusSeconds(320));
        assertThat(after.end()).isEqualTo(T0.plusSeconds(500));
    }

    @Test
    void theLiveStreamExtendsTheEndAndNeverCrossesAGap() {
        DatabaseHistory h = Histories.registered(T0).wal(1, 5, T0, T0.plusSeconds(100)).backup("b1", 2, T0.plusSeconds(10)).get();
        LiveWal continuing = new LiveWal(Histories.CHAIN, 1, "0/6000100", T0.plusSeconds(130));
        assertThat(RecoveryWindow.of(h, NOW, continuing).end()).isEqualTo(T0.plusSeconds(130));
        LiveWal afterAGap = new LiveWal(Histories.CHAIN, 1, "0/9000100", T0.plusSeconds(900));
        assertThat(RecoveryWindow.of(h, NOW, afterAGap).end()).isEqualTo(T0.plusSeconds(100));
        LiveWal otherChain = new LiveWal("1-16", 1, "0/6000100", T0.plusSeconds(900));
        assertThat(RecoveryWindow.of(h, NOW, otherChain).end()).isEqualTo(T0.plusSeconds(100));
    }

    @Test
    void theStartIsNeverOlderThanThePolicysWindow() {
        Instant old = NOW.minus(Duration.ofDays(9));
        DatabaseHistory h = Histories.registered(old).wal(1, 50, old, NOW.minusSeconds(5)).backup("b1", 2, old.plusSeconds(10)).get();
        RecoveryWindow w = RecoveryWindow.of(h, NOW, null);
        assertThat(w.start()).isEqualTo(NOW.minus(Duration.ofDays(7)));
        assertThat(w.end()).isEqualTo(NOW.minusSeconds(5));
    }

    @Test
    void thePlanPicksTheNewestBackupConsistentBeforeTheTarget() {
        DatabaseHistory h = Histories.registered(T0).wal(1, 20, T0, T0.plusSeconds(1000)).backup("b1", 2, T0.plusSeconds(10))
                .backup("b2", 10, T0.plusSeconds(500)).get();
        assertThat(RestorePlan.plan(h, T0.plusSeconds(300), NOW, null).backup().id()).isEqualTo("b1");
        assertThat(RestorePlan.plan(h, T0.plusSeconds(500), NOW, null).backup().id()).isEqualTo("b2");
        RestorePlan latest = RestorePlan.plan(h, null, NOW, null);
        assertThat(latest.backup().id()).isEqualTo("b2");
        assertThat(latest.target()).isEqualTo(T0.plusSeconds(1000));
    }

    @Test
    void targetsOutsideTheWindowAreRefusedWithTheWindow() {
        DatabaseHistory h = Histories.registered(T0).wal(1, 20, T0, T0.plusSeconds(1000)).backup("b1", 2, T0.plusSeconds(10)).get();
        assertThatThrownBy(() -> RestorePlan.plan(h, T0.plusSeconds(5), NOW, null)).isInstanceOf(CatalogRejection.class)
                .hasMessageContaining("outside the recovery window [2026-11-20T03:00:10Z, 2026-11-20T03:16:40Z]");
        assertThatThrownBy(() -> RestorePlan.plan(h, T0.plusSeconds(2000), NOW, null)).hasMessageContaining("outside the recovery window");
        assertThatThrownBy(() -> RestorePlan.plan(h, NOW.plusSeconds(60), NOW, null)).hasMessageContaining("in the future");
        assertThatThrownBy(() -> RestorePlan.plan(Histories.registered(T0).get(), null, NOW, null)).hasMessageContaining("nothing to restore");
    }

    @Test
    void historyRolledBackInPlaceIsNotInTheWindowNorAreBackupsOfIt() {
        // b1, WAL to +400 s; restored in place at +500 s to +200 s (b2 was taken at +300 s, of the history rolled back);
        // then the new timeline's WAL, as the stream records it, to +900 s
        Histories h = Histories.registered(T0).wal(1, 5, T0, T0.plusSeconds(400)).backup("b1", 2, T0.plusSeconds(10))
                .backup("b2", 4, T0.plusSeconds(300))
                .apply(new dev.tidemark.engine.catalog.api.DatabaseEvent.RestoreRequested("db", "r1", "pitr", T0.plusSeconds(200), false,
                        "/pg", 5432, true, "b1", "k", "ab".repeat(32), Histories.CHAIN, 1, null, null, null, T0.plusSeconds(450)))
                .apply(new dev.tidemark.engine.catalog.api.DatabaseEvent.RestoreStarted("db", "r1", T0.plusSeconds(451)))
                .apply(new dev.tidemark.engine.catalog.api.DatabaseEvent.RestoreCompleted("db", "r1", T0.plusSeconds(199), "0/3000100",
                        2, "/pg", 5432, "restored", T0.plusSeconds(500)))
                .wal(6, 9, T0.plusSeconds(500), T0.plusSeconds(900));
        RecoveryWindow w = RecoveryWindow.of(h.get(), NOW, null);
        assertThat(w.start()).isEqualTo(T0.plusSeconds(10));
        assertThat(w.end()).isEqualTo(T0.plusSeconds(900));
        assertThat(w.gaps()).extracting(RecoveryWindow.Gap::restoreId).containsExactly("r1");
        assertThat(w.contains(T0.plusSeconds(150))).isTrue();
        assertThat(w.contains(T0.plusSeconds(200))).as("the restore's own target").isTrue();
        assertThat(w.contains(T0.plusSeconds(350))).as("rolled back").isFalse();
        assertThat(w.contains(T0.plusSeconds(600))).isTrue();
        assertThat(w.usable()).extracting(u -> u.backup().id()).as("b2 belongs to the rolled-back history").containsExactly("b1");
        assertThatThrownBy(() -> RestorePlan.plan(h.get(), T0.plusSeconds(350), NOW, null))
                .hasMessageContaining("rolled back by in-place restore r1");
        assertThat(RestorePlan.plan(h.get(), T0.plusSeconds(600), NOW, null).backup().id()).isEqualTo("b1");
    }

    @Test
    void aParentTimelineCountsOnlyUpToWhereTheNewerOneBegan() {
        // timeline 1 is archived to segment 10 (the old primary wrote on after the failover); timeline 2 began in segment 6,
        // and its segments 7 and 8 are missing: timeline 1's copies of them are of the abandoned history, not a cover
        Histories h = Histories.registered(T0).wal(1, 10, T0, T0.plusSeconds(300)).backup("b1", 2, T0.plusSeconds(10))
                .apply(new TimelineSwitched("db", Histories.CHAIN, 1, 2, "0/60000A0", T0.plusSeconds(200)))
                .apply(walOnTwo(6, 6, T0.plusSeconds(150), T0.plusSeconds(160)))
                .apply(walOnTwo(9, 12, T0.plusSeconds(250), T0.plusSeconds(400)));
        RecoveryWindow w = RecoveryWindow.of(h.get(), NOW, null);
        assertThat(w.end()).as("the window ends at timeline 2's gap").isEqualTo(T0.plusSeconds(160));
        h.apply(walOnTwo(7, 8, T0.plusSeconds(160), T0.plusSeconds(250)));
        assertThat(RecoveryWindow.of(h.get(), NOW, null).end()).isEqualTo(T0.plusSeconds(400));
    }

    @Test
    void aNewerTimelineMissingItsFirstSegmentsIsNotCoveredByItsParentsDivergedWal() {
        // the old primary ran ahead to segment 20; the promoted standby began timeline 2 in segment 12, and timeline 2's
        // WAL in the repository starts at 18 (12 to 17 were lost): the window ends at the fork, not at timeline 2's end
        Histories h = Histories.registered(T0).wal(1, 20, T0, T0.plusSeconds(300)).backup("b1", 2, T0.plusSeconds(10))
                .apply(new TimelineSwitched("db", Histories.CHAIN, 1, 2, "0/C0000A0", T0.plusSeconds(200)))
                .apply(walOnTwo(18, 25, T0.plusSeconds(250), T0.plusSeconds(500)));
        RecoveryWindow w = RecoveryWindow.of(h.get(), NOW, null);
        assertThat(w.contains(T0.plusSeconds(400))).as("timeline 2 after its gap is not restorable: %s", w.describe()).isFalse();
        assertThat(w.contains(T0.plusSeconds(280))).as("nor timeline 1's diverged history: %s", w.describe()).isFalse();
    }

    @Test
    void aNewerTimelineWhoseParentStopsShortOfTheForkIsNotReached() {
        Histories h = Histories.registered(T0).wal(1, 4, T0, T0.plusSeconds(100)).backup("b1", 2, T0.plusSeconds(10))
                .apply(new TimelineSwitched("db", Histories.CHAIN, 1, 2, "0/6000000", T0.plusSeconds(200)))
                .apply(walOnTwo(6, 9, T0.plusSeconds(150), T0.plusSeconds(400)));
        assertThat(RecoveryWindow.of(h.get(), NOW, null).end()).as("timeline 1's segment 5 is missing").isEqualTo(T0.plusSeconds(100));
    }

    private static WalArchived walOnTwo(long first, long last, Instant firstTime, Instant lastTime) {
        return new WalArchived("db", Histories.CHAIN, 2, new WalSegment(2, first, 16L << 20).name(),
                new WalSegment(2, last, 16L << 20).name(), firstTime, lastTime, (last - first + 1) << 24,
                "0/" + Long.toHexString((last + 1) << 24));
    }
}
