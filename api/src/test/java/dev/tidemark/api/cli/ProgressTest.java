package dev.tidemark.api.cli;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The CLI's --wait polls often while a job is young and at most once a second when it is long. */
class ProgressTest {

    @Test
    void thePollIntervalGrowsWithTheTimeWaited() {
        assertThat(Progress.pollInterval(0)).isEqualTo(20);
        assertThat(Progress.pollInterval(300)).isEqualTo(20);
        assertThat(Progress.pollInterval(1500)).isEqualTo(75); // a 1.5 s backup is seen done within 75 ms
        assertThat(Progress.pollInterval(10_000)).isEqualTo(500);
        assertThat(Progress.pollInterval(3_600_000)).isEqualTo(1000);
    }
}
