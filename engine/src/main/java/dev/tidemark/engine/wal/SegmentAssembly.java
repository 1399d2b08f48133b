package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The segment a stream is filling: the bytes the server sends, in order, into a segment-sized buffer. A full segment goes
 * to the uploads and the next one begins; the bytes so far are uploaded now and then as the partial segment.
 */
final class SegmentAssembly {
    private final SegmentUploads uploads;
    private final SegmentUploads.Queue queue;
    /** The segment number where the streamed timeline's part ends, or -1 on the server's current timeline. */
    private final long endSegment;
    private byte[] buffer;
    private WalSegment segment;
    private int filled;
    private int uploadedPartial;

    SegmentAssembly(SegmentUploads uploads, SegmentUploads.Queue queue, WalSegment first, long endSegment) {
        this.uploads = uploads;
        this.queue = queue;
        this.endSegment = endSegment;
        this.buffer = queue.buffer();
        this.segment = first;
    }

    /** The segment being filled. */
    WalSegment segment() {
        return segment;
    }

    /** Half a segment arrived since the last partial upload, and every completed segment is durable. */
    boolean halfway() {
        return filled - uploadedPartial >= buffer.length / 2 && queue.isEmpty();
    }

    /**
     * Uploads the bytes that arrived since the last partial upload, only behind a contiguous durable prefix: while earlier
     * segments are still uploading, the partial one could not move the durable position anyway.
     */
    void uploadPartial() throws IOException {
        if (filled > uploadedPartial && queue.isEmpty()) {
            uploads.uploadPartial(segment, buffer, filled);
            uploadedPartial = filled;
        }
    }

    /**
     * Takes what the server sent, which ends at end: bytes already taken are skipped, a gap before them fails. True when
     * the streamed timeline's part is complete; what follows is its successor's.
     */
    boolean take(ByteBuffer data, long end) throws Exception {
        long dataStart = end - data.remaining();
        long expected = segment.start().value() + filled;
        if (dataStart > expected) {
            throw new IOException("the server sent WAL from " + new Lsn(dataStart) + " but " + new Lsn(expected) + " was expected");
        }
        if (dataStart < expected) {
            long skip = expected - dataStart;
            if (skip >= data.remaining()) {
                return false;
            }
            data.position(data.position() + (int) skip);
        }
        while (data.hasRemaining()) {
            int n = Math.min(data.remaining(), buffer.length - filled);
            data.get(buffer, filled, n);
            filled += n;
            if (filled == buffer.length) {
                queue.submit(segment, buffer);
                buffer = queue.buffer();
                segment = segment.next();
                filled = 0;
                uploadedPartial = 0;
                if (endSegment >= 0 && segment.number() >= endSegment) {
                    return true;
                }
            }
        }
        return false;
    }
}
