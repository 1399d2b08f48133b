package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.WalSegment;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class WalRecorderTest {
    private static final long SEGMENT = 16L << 20;

    /**
     * A stream that has just started knows no server time yet (its samples lie ahead of the WAL it catches up on): the
     * segments it reports wait for a time instead of being handed on undated, which the catalog would not take.
     */
    @Test
    void segmentsReportedBeforeAnyServerTimeWaitForOneAndNoneIsDropped() {
        List<WalRecorder.Batch> batches = new ArrayList<>();
        Instant t = Instant.parse("2026-12-01T06:00:00Z");
        WalRecorder recorder = new WalRecorder(batches::add, Duration.ofSeconds(30), Duration.ofMinutes(5), 2,
                Clock.fixed(t, ZoneOffset.UTC), SEGMENT);
        for (long n = 5; n <= 9; n++) {
            recorder.segmentArchived("c", new WalSegment(1, n, SEGMENT), SEGMENT);
        }
        recorder.flush();
        assertThat(batches).as("nothing undated is handed on").isEmpty();
        recorder.durable("c", 1, new WalSegment(1, 9, SEGMENT).end(), t);
        recorder.flush();
        assertThat(batches).hasSize(1);
        assertThat(batches.get(0).firstSegment()).isEqualTo(new WalSegment(1, 5, SEGMENT).name());
        assertThat(batches.get(0).lastSegment()).isEqualTo(new WalSegment(1, 9, SEGMENT).name());
        assertThat(batches.get(0).segments()).isEqualTo(5);
        assertThat(batches.get(0).lastByteTime()).isEqualTo(t);
    }
}
