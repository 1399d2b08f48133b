package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The scan for a time target ends at the first commit after the target, or at the end of a recovery after it (the
 * start of a later timeline: nothing after it is older), instead of reading that timeline to its end; an end of
 * recovery before the target, or a restore to the latest moment, reads on. On a WAL segment written here record by
 * record, in PostgreSQL's layout (page headers, record headers, main data).
 */
class WalScanTest {
    private static final long SEGMENT = 1 << 20;
    private static final Instant EPOCH = Instant.parse("2000-01-01T00:00:00Z");
    private static final Instant TARGET = Instant.parse("2026-12-05T12:00:00Z");

    @TempDir
    Path dir;

    @Test
    void aTimelineBegunAfterTheTargetEndsTheScan() throws Exception {
        Segment wal = new Segment();
        long first = wal.commit(TARGET.minusSeconds(2));
        long second = wal.commit(TARGET.minusMillis(500));
        long secondEnd = wal.lastEnd;
        long promotion = wal.endOfRecovery(TARGET.plusSeconds(30));
        wal.commit(TARGET.minusSeconds(1)); // a clock gone back: PostgreSQL's own time target would not look here either
        wal.commit(TARGET.plusSeconds(40));

        WalScan.Result scanned = scan(wal, Optional.of(TARGET));
        assertThat(first).isLessThan(second);
        assertThat(scanned.lastCommitEnd()).contains(new Lsn(secondEnd));
        assertThat(scanned.lastCommitTime()).contains(TARGET.minusMillis(500));
        assertThat(scanned.stoppedAt()).as("the end of the recovery after the target").contains(new Lsn(promotion));
        assertThat(scanned.hole()).isEmpty();
        assertThat(scanned.records()).as("two commits and the end of the recovery").isEqualTo(3);
    }

    @Test
    void aRecoveryEndedBeforeTheTargetOrNoTargetReadsOn() throws Exception {
        Segment wal = new Segment();
        wal.commit(TARGET.minusSeconds(20));
        wal.endOfRecovery(TARGET.minusSeconds(10));
        wal.commit(TARGET.minusSeconds(5));
        long lastEnd = wal.lastEnd;
        long after = wal.commit(TARGET.plusSeconds(5));

        WalScan.Result scanned = scan(wal, Optional.of(TARGET));
        assertThat(scanned.lastCommitEnd()).contains(new Lsn(lastEnd));
        assertThat(scanned.stoppedAt()).as("the first commit after the target").contains(new Lsn(after));

        WalScan.Result latest = scan(wal, Optional.empty());
        assertThat(latest.stoppedAt()).isEmpty();
        assertThat(latest.records()).isEqualTo(4);
    }

    private WalScan.Result scan(Segment wal, Optional<Instant> target) throws Exception {
        String name = new WalSegment(1, 1, SEGMENT).name();
        Path file = dir.resolve(name);
        Files.write(file, wal.bytes);
        WalScan.Segments segments = new WalScan.Segments() {
            @Override
            public Optional<Path> segment(String n) {
                return n.equals(name) ? Optional.of(file) : Optional.empty();
            }

            @Override
            public Set<String> names() {
                return Set.of(name);
            }
        };
        return new WalScan(segments, List.of(new WalScan.Timeline(1, 0)), SEGMENT).scan(new Lsn(SEGMENT + 40), target);
    }

    /** Segment 1 of timeline 1 (1 MiB segments): one page, its long header, then records, each MAXALIGNed. */
    private static final class Segment {
        final byte[] bytes = new byte[(int) SEGMENT];
        private final ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        private int at = 40;
        /** Where the last record written ends (before the alignment of the next one). */
        long lastEnd;

        Segment() {
            b.putShort(0, (short) 0xD116); // xlp_magic
            b.putShort(2, (short) 0x0002); // XLP_LONG_HEADER
            b.putInt(4, 1); // xlp_tli
            b.putLong(8, SEGMENT); // xlp_pageaddr: this page's LSN
        }

        long position() {
            return SEGMENT + at;
        }

        /** A commit record (RM_XACT, XLOG_XACT_COMMIT) of that time; returns where it starts. */
        long commit(Instant time) {
            return record(1, 0x00, micros(time), 0);
        }

        /** An end-of-recovery record (RM_XLOG, XLOG_END_OF_RECOVERY) of that time; returns where it starts. */
        long endOfRecovery(Instant time) {
            return record(0, 0x90, micros(time), 8); // then ThisTimeLineID and PrevTimeLineID
        }

        private long record(int rmid, int info, long micros, int more) {
            long start = position();
            int dataLength = 8 + more;
            int total = 24 + 2 + dataLength;
            b.putInt(at, total);
            bytes[at + 16] = (byte) info;
            bytes[at + 17] = (byte) rmid;
            bytes[at + 24] = (byte) 255; // XLR_BLOCK_ID_DATA_SHORT
            bytes[at + 25] = (byte) dataLength;
            b.putLong(at + 26, micros);
            lastEnd = start + total;
            at = (at + total + 7) & ~7;
            return start;
        }

        private static long micros(Instant t) {
            return ChronoUnit.MICROS.between(EPOCH, t);
        }
    }
}
