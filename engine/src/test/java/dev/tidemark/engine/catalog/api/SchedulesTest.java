package dev.tidemark.engine.catalog.api;

import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SchedulesTest {
    @Test
    void weeklyIsTheLatestSundayAtThreeUtc() {
        // 2026-11-24 is a Tuesday
        assertThat(Schedules.lastWeekly("SUN 03:00", Instant.parse("2026-11-24T10:00:00Z"))).isEqualTo(Instant.parse("2026-11-22T03:00:00Z"));
        assertThat(Schedules.lastWeekly("sun 03:00", Instant.parse("2026-11-22T02:59:00Z"))).isEqualTo(Instant.parse("2026-11-15T03:00:00Z"));
        assertThat(Schedules.lastWeekly("SUNDAY 03:00", Instant.parse("2026-11-22T03:00:00Z"))).isEqualTo(Instant.parse("2026-11-22T03:00:00Z"));
    }

    @Test
    void dailyIsTodayOrYesterday() {
        assertThat(Schedules.lastDaily("01:00", Instant.parse("2026-11-24T00:30:00Z"))).isEqualTo(Instant.parse("2026-11-23T01:00:00Z"));
        assertThat(Schedules.lastDaily("01:00", Instant.parse("2026-11-24T01:00:00Z"))).isEqualTo(Instant.parse("2026-11-24T01:00:00Z"));
    }

    @Test
    void aMissedRunIsDueUntilSomethingWasAskedForAfterIt() {
        Instant moment = Instant.parse("2026-11-22T03:00:00Z");
        assertThat(Schedules.due(moment, null)).isTrue();
        assertThat(Schedules.due(moment, Instant.parse("2026-11-21T03:00:00Z"))).isTrue();
        assertThat(Schedules.due(moment, Instant.parse("2026-11-22T03:00:05Z"))).isFalse();
    }

    @Test
    void schedulesAreStoredInOneSpelling() {
        assertThat(Schedules.canonicalWeekly("tue 3:00")).isEqualTo("TUE 03:00");
        assertThat(Schedules.canonicalWeekly("  Tuesday   08:24 ")).isEqualTo("TUE 08:24");
        assertThat(Schedules.canonicalDaily("1:05")).isEqualTo("01:05");
        assertThat(dev.tidemark.engine.catalog.api.Policy.defaults().with(null, "sun 3:00", "1:00", null, null, null, null))
                .isEqualTo(dev.tidemark.engine.catalog.api.Policy.defaults());
    }

    @Test
    void badSchedulesSayWhatIsExpected() {
        assertThatThrownBy(() -> Schedules.lastWeekly("03:00", Instant.now())).hasMessageContaining("'SUN 03:00'");
        assertThatThrownBy(() -> Schedules.lastWeekly("SOMEDAY 03:00", Instant.now())).hasMessageContaining("not a day");
        assertThatThrownBy(() -> Schedules.lastDaily("25:00", Instant.now())).hasMessageContaining("HH:MM");
    }
}
