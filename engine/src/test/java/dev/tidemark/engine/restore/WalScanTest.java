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

    @Test
    void gatedTheReplayStopsAtTheFirstCommitAfterTheTargetOrBeforeAHazardNoEarlierCommitCovers() throws Exception {
        // an open transaction's records after the last commit at or before the target are safe: the stop is the first
        // commit after the target
        Segment plain = new Segment();
        plain.commit(TARGET.minusSeconds(5));
        plain.record(10, 0x00); // a heap insert of a transaction that commits after the target
        long after = plain.commit(TARGET.plusSeconds(5));
        WalScan.Result scanned = gated(plain, Optional.of(TARGET), 0);
        assertThat(scanned.replayStop()).contains(new Lsn(after));

        // a database dropped after the last commit at or before the target (its files go before its commit): held before
        Segment dropped = new Segment();
        dropped.commit(TARGET.minusSeconds(5));
        long lastEnd = dropped.lastEnd;
        long drop = dropped.record(4, 0x10); // XLOG_DBASE_DROP
        dropped.commit(TARGET.plusSeconds(5));
        WalScan.Result held = gated(dropped, Optional.of(TARGET), 0);
        assertThat(held.replayStop()).as("before the drop, which no commit at or before the target follows").contains(new Lsn(drop));
        assertThat(held.lastCommitEnd()).contains(new Lsn(lastEnd));

        // the same drop committed before the target: part of the state at it, the replay passes it
        Segment committed = new Segment();
        committed.record(4, 0x10);
        committed.commit(TARGET.minusSeconds(1));
        committed.record(24, 0x00); // a logical message
        long later = committed.commit(TARGET.plusSeconds(1));
        assertThat(gated(committed, Optional.of(TARGET), 0).replayStop()).contains(new Lsn(later));

        // a transaction prepared, a tablespace created, a relation map changed, a relation's file created: hazards too; in
        // the backup's own WAL (before its end) a hazard is replayed as before
        for (int[] hazard : new int[][]{{1, 0x10}, {5, 0x00}, {7, 0x00}, {2, 0x10}}) {
            Segment wal = new Segment();
            wal.commit(TARGET.minusSeconds(5));
            long at = wal.record(hazard[0], hazard[1]);
            long commitAfter = wal.commit(TARGET.plusSeconds(5));
            assertThat(gated(wal, Optional.of(TARGET), 0).replayStop()).as("rmgr %d info %x", hazard[0], hazard[1]).contains(new Lsn(at));
            assertThat(gated(wal, Optional.of(TARGET), at + 1).replayStop()).as("within the backup's own WAL").contains(new Lsn(commitAfter));
        }

        // a row of pg_database changed in place (DROP DATABASE marks it invalid so before its files go): a hazard; one of a
        // database's own pg_class (VACUUM's counts): not
        Segment inPlace = new Segment();
        inPlace.commit(TARGET.minusSeconds(5));
        inPlace.inPlaceUpdate(1663);
        long invalidated = inPlace.inPlaceUpdate(1664);
        inPlace.commit(TARGET.plusSeconds(5));
        assertThat(gated(inPlace, Optional.of(TARGET), 0).replayStop()).contains(new Lsn(invalidated));

        // no commit after the target: the end of the WAL, or the hazard still open there
        Segment quiet = new Segment();
        quiet.commit(TARGET.minusSeconds(5));
        quiet.record(10, 0x00);
        long end = (quiet.position() + 7) & ~7L;
        assertThat(gated(quiet, Optional.of(TARGET), 0).replayStop()).contains(new Lsn(end));
        long open = quiet.record(4, 0x10);
        quiet.record(10, 0x00);
        assertThat(gated(quiet, Optional.of(TARGET), 0).replayStop()).contains(new Lsn(open));

        // a relation file created by a transaction open at the target: held before, for at most the hold (a bulk load
        // beyond it is replayed on, and its file named, to be removed after the recovery if no relation uses it)
        Segment load = new Segment();
        load.commit(TARGET.minusSeconds(5));
        long created = load.newFile(1663, 5, 16400);
        for (int i = 0; i < 20; i++) {
            load.record(10, 0x00); // the load's rows
        }
        long loadCommit = load.commit(TARGET.plusSeconds(5));
        WalScan.Result heldLoad = gated(load, Optional.of(TARGET), 0);
        assertThat(heldLoad.replayStop()).as("within the hold").contains(new Lsn(created));
        assertThat(heldLoad.createdFiles()).as("held: never replayed").isEmpty();
        System.setProperty(WalScan.HOLD_NEW_FILES_PROPERTY, "256");
        try {
            WalScan.Result passed = gated(load, Optional.of(TARGET), 0);
            assertThat(passed.replayStop()).as("beyond the hold").contains(new Lsn(loadCommit));
            assertThat(passed.createdFiles()).as("replayed before its commit was read").containsExactly(new WalScan.CreatedFile(1663, 5, 16400));
        } finally {
            System.clearProperty(WalScan.HOLD_NEW_FILES_PROPERTY);
        }

        // not gated, or no target: no stop of the gate's
        assertThat(scan(plain, Optional.of(TARGET)).replayStop()).isEmpty();
        assertThat(gated(plain, Optional.empty(), 0).replayStop()).isEmpty();
    }

    @Test
    void recordsAcrossPagesAndSegmentsHeadersSplitAndAWalSwitchAreReadAsPostgreSQLWritesThem() throws Exception {
        SyntheticWal wal = new SyntheticWal(SEGMENT, 1, 1);
        java.util.Random random = new java.util.Random(11);
        long start = wal.position();
        List<Long> commitStarts = new java.util.ArrayList<>();
        List<Long> commitEnds = new java.util.ArrayList<>();
        long records = 0;
        boolean splitHeader = false;
        boolean switched = false;
        while (wal.position() < 3 * SEGMENT + SEGMENT / 2) {
            for (int i = random.nextInt(6); i >= 0; i--) {
                long at = wal.heap(random.nextInt(8) == 0 ? 9_000 + random.nextInt(9_000) : 1 + random.nextInt(400));
                splitHeader |= WalScan.PAGE - at % WalScan.PAGE < 24; // its 24-byte header continues on the next page
                records++;
            }
            if (!switched && wal.position() > 2 * SEGMENT + SEGMENT / 3) {
                wal.walSwitch(); // the rest of segment 2 unused
                switched = true;
                records++;
            }
            commitStarts.add(wal.commit(TARGET.plusMillis(commitStarts.size())));
            commitEnds.add(wal.lastEnd());
            records++;
        }
        assertThat(splitHeader).as("the data has a record header split across two pages").isTrue();
        List<String> names = wal.writeTo(dir);
        assertThat(names).hasSize(3);
        WalScan.Segments segments = new WalScan.Segments() {
            @Override
            public Optional<Path> segment(String n) {
                return names.contains(n) ? Optional.of(dir.resolve(n)) : Optional.empty();
            }

            @Override
            public Set<String> names() {
                return Set.copyOf(names);
            }
        };
        WalScan.Result latest = new WalScan(segments, List.of(new WalScan.Timeline(1, 0)), SEGMENT).scan(new Lsn(start), Optional.empty());
        assertThat(latest.records()).isEqualTo(records);
        assertThat(latest.lastCommitEnd()).contains(new Lsn(commitEnds.get(commitEnds.size() - 1)));
        assertThat(latest.hole()).isEmpty();

        int n = commitStarts.size() - 10; // a commit in the segment after the switch
        assertThat(commitStarts.get(n) / SEGMENT).isEqualTo(3);
        Optional<Instant> target = Optional.of(TARGET.plusMillis(n - 1).plusNanos(500_000));
        for (WalScan scan : List.of(new WalScan(segments, List.of(new WalScan.Timeline(1, 0)), SEGMENT),
                new WalScan(segments, List.of(new WalScan.Timeline(1, 0)), SEGMENT).gated(new Lsn(start)))) {
            WalScan.Result toTime = scan.scan(new Lsn(start), target);
            assertThat(toTime.stoppedAt()).contains(new Lsn(commitStarts.get(n)));
            assertThat(toTime.lastCommitEnd()).contains(new Lsn(commitEnds.get(n - 1)));
        }
    }

    @Test
    void theWarmUpScansItsOwnWalAndLeavesNothingBehind() throws Exception {
        assertThat(WalScanWarmUp.run(dir)).isGreaterThan(100_000);
        try (var left = Files.list(dir)) {
            assertThat(left).isEmpty();
        }
    }

    private WalScan.Result gated(Segment wal, Optional<Instant> target, long backupEnd) throws Exception {
        return scanner(wal).gated(new Lsn(backupEnd)).scan(new Lsn(SEGMENT + 40), target);
    }

    private WalScan.Result scan(Segment wal, Optional<Instant> target) throws Exception {
        return scanner(wal).scan(new Lsn(SEGMENT + 40), target);
    }

    private WalScan scanner(Segment wal) throws Exception {
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
        return new WalScan(segments, List.of(new WalScan.Timeline(1, 0)), SEGMENT);
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

        /** An in-place heap update (RM_HEAP, XLOG_HEAP_INPLACE) of a block in that tablespace; returns where it starts. */
        long inPlaceUpdate(int tablespace) {
            long start = position();
            int total = 24 + 4 + 12 + 4 + 2 + 2;
            b.putInt(at, total);
            bytes[at + 16] = (byte) 0x70;
            bytes[at + 17] = (byte) 10;
            bytes[at + 24] = 0; // block 0
            bytes[at + 25] = 0x20; // BKPBLOCK_HAS_DATA
            b.putInt(at + 28, tablespace);
            b.putInt(at + 32, 5);
            b.putInt(at + 36, 1262);
            b.putInt(at + 40, 0); // block number
            bytes[at + 44] = (byte) 255;
            bytes[at + 45] = 2;
            lastEnd = start + total;
            at = (at + total + 7) & ~7;
            return start;
        }

        /** A relation file created (RM_SMGR, XLOG_SMGR_CREATE: its RelFileNode and fork); returns where it starts. */
        long newFile(int tablespace, int database, int relation) {
            long start = position();
            int total = 24 + 2 + 16;
            b.putInt(at, total);
            bytes[at + 16] = (byte) 0x10;
            bytes[at + 17] = (byte) 2;
            bytes[at + 24] = (byte) 255;
            bytes[at + 25] = 16;
            b.putInt(at + 26, tablespace);
            b.putInt(at + 30, database);
            b.putInt(at + 34, relation);
            b.putInt(at + 38, 0); // MAIN_FORKNUM
            lastEnd = start + total;
            at = (at + total + 7) & ~7;
            return start;
        }

        /** A record of another kind (8 bytes of main data); returns where it starts. */
        long record(int rmid, int info) {
            return record(rmid, info, 0, 0);
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
