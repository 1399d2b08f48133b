package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Synchronous mode: the commit times in the WAL a stream receives, so that what is durable is dated by its last commit
 * itself (the window ends at it) rather than by the last clock sample below it. Reads the bytes as they arrive, from a
 * segment's start: page headers skipped, a record continued from the segment before skipped, each record's header and
 * first bytes read; a transaction commit's time (xl_xact_commit.xact_time) is kept with the position where its record
 * ends. Anything it does not understand (a page without a header) makes it wait for the next segment: the clock samples
 * date that WAL as before.
 */
final class CommitTimes {
    private static final int PAGE = 8192;
    private static final int SHORT_HEADER = 24;
    private static final int LONG_HEADER = 40;
    private static final int RECORD_HEADER = 24;
    private static final int XLP_FIRST_IS_CONTRECORD = 0x0001;
    private static final int XLP_LONG_HEADER = 0x0002;
    private static final int RM_XACT_ID = 1;
    private static final int XLOG_XACT_OPMASK = 0x70;
    private static final int XLOG_XACT_COMMIT = 0x00;
    private static final int XLOG_XACT_COMMIT_PREPARED = 0x30;
    /** PostgreSQL's epoch, 2000-01-01 UTC, in microseconds after the Unix epoch. */
    private static final long POSTGRES_EPOCH_MICROS = 946_684_800_000_000L;
    private static final int KEPT = 4096;

    private enum State { PAGE_HEADER, CONTINUATION, PADDING, RECORD_HEAD, RECORD_BODY, LOST }

    private final long segmentSize;
    private final Deque<long[]> commits = new ArrayDeque<>(); // {record end, micros since the Unix epoch}
    private final byte[] head = new byte[64];
    private final byte[] pageHeader = new byte[LONG_HEADER];
    private State state = State.LOST;
    private State afterHeader;
    private long position;
    private int headerHave;
    private int headerSize;
    private boolean firstPage;
    /** Bytes still to skip: of a record continued from the segment before, or padding before the next record. */
    private long skip;
    private int headHave;
    private long recordLength;
    private long recordLeft;

    CommitTimes(long segmentSize) {
        this.segmentSize = segmentSize;
    }

    /** Takes the bytes at lsn (the stream's, in order); at a segment's start it begins reading records anew. */
    void take(long lsn, ByteBuffer bytes) {
        ByteBuffer data = bytes.duplicate();
        if (lsn % segmentSize == 0) {
            state = State.PAGE_HEADER;
            afterHeader = State.RECORD_HEAD;
            headerHave = 0;
            headerSize = 0;
            headHave = 0;
            firstPage = true;
        } else if (lsn != position) {
            state = State.LOST; // not the bytes that follow: wait for the next segment
        }
        position = lsn;
        while (data.hasRemaining()) {
            if (state == State.LOST) {
                int n = (int) Math.min(data.remaining(), segmentSize - position % segmentSize);
                advance(data, n);
                if (position % segmentSize == 0 && data.hasRemaining()) {
                    take(position, data.slice());
                    return;
                }
                continue;
            }
            if (state != State.PAGE_HEADER && position % PAGE == 0) {
                afterHeader = state;
                state = State.PAGE_HEADER;
                headerHave = 0;
                headerSize = 0;
            }
            int toPageEnd = (int) (PAGE - position % PAGE);
            switch (state) {
                case PAGE_HEADER -> readPageHeader(data);
                case CONTINUATION, PADDING -> {
                    int n = (int) Math.min(Math.min(data.remaining(), skip), toPageEnd);
                    advance(data, n);
                    skip -= n;
                    if (skip == 0) {
                        nextRecord();
                    }
                }
                case RECORD_HEAD -> readRecordHead(data, toPageEnd);
                case RECORD_BODY -> {
                    int n = (int) Math.min(Math.min(data.remaining(), recordLeft), toPageEnd);
                    advance(data, n);
                    recordLeft -= n;
                    if (recordLeft == 0) {
                        endRecord();
                    }
                }
                default -> throw new IllegalStateException(state.name());
            }
        }
    }

    private void readPageHeader(ByteBuffer data) {
        int want = headerSize == 0 ? SHORT_HEADER : headerSize;
        int n = Math.min(data.remaining(), want - headerHave);
        data.get(pageHeader, headerHave, n);
        headerHave += n;
        position += n;
        if (headerHave < want) {
            return;
        }
        if (headerSize == 0) {
            int magic = le16(pageHeader, 0);
            int info = le16(pageHeader, 2);
            if (magic == 0) {
                state = State.LOST; // a zeroed page (after a segment switch): nothing more in this segment
                return;
            }
            headerSize = (info & XLP_LONG_HEADER) != 0 ? LONG_HEADER : SHORT_HEADER;
            if (firstPage) {
                firstPage = false;
                long remaining = le32(pageHeader, 16);
                if ((info & XLP_FIRST_IS_CONTRECORD) != 0 && remaining > 0) {
                    afterHeader = State.CONTINUATION;
                    skip = remaining;
                }
            }
            if (headerHave < headerSize) {
                return;
            }
        }
        headerSize = 0;
        headerHave = 0;
        state = afterHeader;
    }

    private void readRecordHead(ByteBuffer data, int toPageEnd) {
        int want = headHave < 4 ? 4 : (int) Math.min(head.length, recordLength);
        int n = Math.min(Math.min(data.remaining(), want - headHave), toPageEnd);
        data.get(head, headHave, n);
        headHave += n;
        position += n;
        if (headHave < want) {
            return;
        }
        if (want == 4) {
            recordLength = le32(head, 0);
            if (recordLength < RECORD_HEADER) {
                state = State.LOST; // zeros up to the segment's end (after a switch), or not a record
                headHave = 0;
            }
            return;
        }
        recordLeft = recordLength - headHave;
        if (recordLeft == 0) {
            endRecord();
        } else {
            state = State.RECORD_BODY;
        }
    }

    /** A record read to its end, at the stream's position (page headers inside it are not the record's). */
    private void endRecord() {
        int info = head[16] & 0xFF;
        int rmid = head[17] & 0xFF;
        int op = info & XLOG_XACT_OPMASK;
        if (rmid == RM_XACT_ID && (op == XLOG_XACT_COMMIT || op == XLOG_XACT_COMMIT_PREPARED)) {
            long micros = commitTime();
            if (micros != Long.MIN_VALUE) {
                commits.addLast(new long[]{position, micros + POSTGRES_EPOCH_MICROS});
                while (commits.size() > KEPT) {
                    commits.removeFirst();
                }
            }
        }
        headHave = 0;
        nextRecord();
    }

    /** Records start MAXALIGNed (8 bytes): the padding before the next one is skipped. */
    private void nextRecord() {
        skip = ((position + 7) & ~7L) - position;
        state = skip > 0 ? State.PADDING : State.RECORD_HEAD;
    }

    /** The commit's xact_time: the first 8 bytes of the record's main data, after the headers it may carry first. */
    private long commitTime() {
        int at = RECORD_HEADER;
        int have = (int) Math.min(head.length, recordLength);
        while (at < have) {
            int id = head[at] & 0xFF;
            if (id == 253) { // XLR_BLOCK_ID_ORIGIN and its replication origin
                at += 3;
                continue;
            }
            if (id == 252) { // XLR_BLOCK_ID_TOPLEVEL_XID and the transaction id
                at += 5;
                continue;
            }
            int data = id == 255 ? at + 2 : id == 254 ? at + 5 : -1; // main data, short or long length
            return data > 0 && data + 8 <= have ? le64(head, data) : Long.MIN_VALUE;
        }
        return Long.MIN_VALUE;
    }

    private void advance(ByteBuffer data, int n) {
        data.position(data.position() + n);
        position += n;
    }

    /** The time of the newest commit whose record ends at or below durable, or null; older ones are forgotten. */
    Instant lastCommitAtOrBelow(Lsn durable) {
        long[] best = null;
        while (!commits.isEmpty() && Long.compareUnsigned(commits.peekFirst()[0], durable.value()) <= 0) {
            best = commits.removeFirst();
        }
        return best == null ? null : Instant.EPOCH.plusNanos(best[1] * 1000);
    }

    private static int le16(byte[] b, int at) {
        return (b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8;
    }

    private static long le32(byte[] b, int at) {
        return (b[at] & 0xFFL) | (b[at + 1] & 0xFFL) << 8 | (b[at + 2] & 0xFFL) << 16 | (b[at + 3] & 0xFFL) << 24;
    }

    private static long le64(byte[] b, int at) {
        return le32(b, at) | le32(b, at + 4) << 32;
    }
}
