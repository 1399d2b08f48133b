package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.WalSegment;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * WAL written record by record in PostgreSQL's layout, for the warm-up of {@link WalScan} ({@link WalScanWarmUp}) and tests: a page header on every
 * page (the long one at a segment's start), records MAXALIGNed, a record that does not fit on its page continued on
 * the next (XLP_FIRST_IS_CONTRECORD and the length still to come in that page's header), across segments too, and a
 * WAL switch that leaves the rest of its segment unused. A record's body holds what the scan reads of it (the main data
 * of a commit or an end of recovery); the rest is zeroes.
 */
final class SyntheticWal {
    private static final int PAGE = WalScan.PAGE;
    private static final int SHORT_HEADER = 24;
    private static final int LONG_HEADER = 40;
    private static final int RECORD_HEADER = 24;
    private static final Instant POSTGRES_EPOCH = Instant.parse("2000-01-01T00:00:00Z");

    private final long segmentSize;
    private final int timeline;
    private final TreeMap<Long, byte[]> segments = new TreeMap<>();
    /** Where the next byte goes. */
    private long pos;
    /** Where the last record written ends (before the next one's alignment). */
    private long lastEnd;

    /** WAL of that timeline from the start of segment firstSegment (segments of segmentSize bytes). */
    SyntheticWal(long segmentSize, int timeline, long firstSegment) {
        this.segmentSize = segmentSize;
        this.timeline = timeline;
        this.pos = firstSegment * segmentSize;
    }

    /** Where the next record will start (once aligned, and after a page header if it falls on a page's start). */
    long position() {
        long p = (pos + 7) & ~7L;
        return p % PAGE == 0 ? p + (p % segmentSize == 0 ? LONG_HEADER : SHORT_HEADER) : p;
    }

    long lastEnd() {
        return lastEnd;
    }

    /** A commit (RM_XACT, XLOG_XACT_COMMIT) of that time; returns where it starts. */
    long commit(Instant time) {
        return record(1, 0x00, mainData(micros(time), 0));
    }

    /**
     * A transaction's end (RM_XACT with that info: 0x00 commit, 0x20 abort, 0x30 and 0x40 their prepared kinds) of that
     * time, with extra bytes of main data after the time (over 245 in all: the long main-data header), after a
     * replication origin's header and a top-level xid's if asked; returns where it starts.
     */
    long transactionEnd(int info, Instant time, int extra, boolean origin, boolean topLevelXid) {
        int main = 8 + extra;
        ByteBuffer b = ByteBuffer.allocate((origin ? 3 : 0) + (topLevelXid ? 5 : 0) + (main > 255 ? 5 : 2) + main)
                .order(ByteOrder.LITTLE_ENDIAN);
        if (origin) {
            b.put((byte) 253).putShort((short) 1); // XLR_BLOCK_ID_ORIGIN
        }
        if (topLevelXid) {
            b.put((byte) 252).putInt(1000); // XLR_BLOCK_ID_TOPLEVEL_XID
        }
        if (main > 255) {
            b.put((byte) 254).putInt(main); // XLR_BLOCK_ID_DATA_LONG
        } else {
            b.put((byte) 255).put((byte) main); // XLR_BLOCK_ID_DATA_SHORT
        }
        b.putLong(micros(time));
        return record(1, info, b.array());
    }

    /** An end of recovery (RM_XLOG, XLOG_END_OF_RECOVERY) of that time; returns where it starts. */
    long endOfRecovery(Instant time) {
        return record(0, 0x90, mainData(micros(time), 8)); // then ThisTimeLineID and PrevTimeLineID
    }

    /** A heap insert of bodyLength bytes (a block reference first, as such records have); returns where it starts. */
    long heap(int bodyLength) {
        return record(10, 0x00, new byte[Math.max(bodyLength, 1)]);
    }

    /** A WAL switch (RM_XLOG, XLOG_SWITCH): the next record starts at the next segment. Returns where it starts. */
    long walSwitch() {
        long start = record(0, 0x40, new byte[0]);
        pos = (pos + segmentSize - 1) / segmentSize * segmentSize;
        return start;
    }

    /** A record of that resource manager and info with that body (after the 24-byte header); returns where it starts. */
    long record(int rmid, int info, byte[] body) {
        pos = (pos + 7) & ~7L;
        byte[] record = new byte[RECORD_HEADER + body.length];
        ByteBuffer b = ByteBuffer.wrap(record).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, record.length);
        record[16] = (byte) info;
        record[17] = (byte) rmid;
        System.arraycopy(body, 0, record, RECORD_HEADER, body.length);
        long start = -1;
        int done = 0;
        while (done < record.length) {
            if (pos % PAGE == 0) {
                pageHeader(record.length - done, done > 0);
            }
            if (start < 0) {
                start = pos;
            }
            int n = (int) Math.min(record.length - done, PAGE - pos % PAGE);
            System.arraycopy(record, done, segment(pos), (int) (pos % segmentSize), n);
            done += n;
            pos += n;
        }
        lastEnd = pos;
        return start;
    }

    /** The segments written, as files named as PostgreSQL names them, into dir; returns their names, oldest first. */
    List<String> writeTo(Path dir) throws IOException {
        List<String> names = new ArrayList<>();
        for (Map.Entry<Long, byte[]> e : segments.entrySet()) {
            String name = new WalSegment(timeline, e.getKey(), segmentSize).name();
            Files.write(dir.resolve(name), e.getValue());
            names.add(name);
        }
        return names;
    }

    private void pageHeader(int remaining, boolean continued) {
        boolean first = pos % segmentSize == 0;
        ByteBuffer b = ByteBuffer.wrap(segment(pos)).order(ByteOrder.LITTLE_ENDIAN);
        int at = (int) (pos % segmentSize);
        b.putShort(at, (short) 0xD110); // xlp_magic (PostgreSQL 15)
        b.putShort(at + 2, (short) ((continued ? 0x0001 : 0) | (first ? 0x0002 : 0))); // XLP_FIRST_IS_CONTRECORD, XLP_LONG_HEADER
        b.putInt(at + 4, timeline);
        b.putLong(at + 8, pos); // xlp_pageaddr: this page's LSN
        b.putInt(at + 16, continued ? remaining : 0); // xlp_rem_len
        if (first) {
            b.putLong(at + 24, 7_000_000_000_000_000_000L); // xlp_sysid
            b.putInt(at + 32, (int) segmentSize);
            b.putInt(at + 36, PAGE);
        }
        pos += first ? LONG_HEADER : SHORT_HEADER;
    }

    private byte[] segment(long at) {
        return segments.computeIfAbsent(at / segmentSize, n -> new byte[(int) segmentSize]);
    }

    /** XLR_BLOCK_ID_DATA_SHORT with 8 bytes of main data (the time), then extra zero bytes of it. */
    private static byte[] mainData(long micros, int extra) {
        byte[] body = new byte[2 + 8 + extra];
        body[0] = (byte) 255;
        body[1] = (byte) (8 + extra);
        ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN).putLong(2, micros);
        return body;
    }

    private static long micros(Instant time) {
        return ChronoUnit.MICROS.between(POSTGRES_EPOCH, time);
    }
}
