package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The segment a stream is filling: the bytes the server sends, in order, appended to a spool file of the stream (as
 * pg_receivewal keeps one), so that a stream holds no memory of its own for them, however long its segment takes to fill.
 * A full segment goes to the uploads and the next one begins; the bytes so far are uploaded now and then as the partial
 * segment, only when some arrived since the last time: once whole, then only the new bytes as pieces after it.
 */
final class SegmentAssembly implements AutoCloseable {
    /** An asynchronous stream's pieces after one partial segment; the next upload stores the partial segment whole again. */
    static final int MAX_PIECES = 32;
    private final SegmentUploads uploads;
    private final SegmentUploads.Queue queue;
    private final Path spool;
    private final long segmentSize;
    /** The segment number where the streamed timeline's part ends, or -1 on the server's current timeline. */
    private final long endSegment;
    private WalSegment segment;
    private FileChannel file;
    private long filled;
    private long uploadedPartial;
    /** Pieces go after the partial segment this attempt stored of the current segment. */
    private boolean piecesFollow;
    /** Pieces stored after that partial segment. */
    private int pieces;

    SegmentAssembly(SegmentUploads uploads, SegmentUploads.Queue queue, WalSegment first, long endSegment) throws IOException {
        this.uploads = uploads;
        this.queue = queue;
        this.spool = uploads.spool();
        this.segmentSize = first.segmentSize();
        this.endSegment = endSegment;
        this.segment = first;
    }

    /** The segment being filled. */
    WalSegment segment() {
        return segment;
    }

    /**
     * Makes durable what arrived since the last upload, only behind a contiguous durable prefix (while earlier segments are
     * still uploading, it could not move the durable position anyway). The first upload of a segment in a stream attempt
     * stores the partial segment whole (and removes pieces an earlier attempt left); the next ones store only the new bytes,
     * as pieces after it, so an upload costs what arrived, not the segment so far. An asynchronous stream stores the
     * partial segment whole again after {@value #MAX_PIECES} pieces (and removes them), so that a reader opens few objects
     * and the re-work stays a fraction of the segment; a synchronous one does not, as that would hold its commits back.
     */
    void saveNew() throws Exception {
        if (filled > uploadedPartial && queue.onlyDurableUnderWay()) {
            if (piecesFollow && (uploads.synchronous() || pieces < MAX_PIECES)) {
                uploads.uploadPiece(segment, partialFile(), uploadedPartial, filled);
                pieces++;
            } else {
                uploads.uploadPartial(segment, partialFile(), filled);
                uploads.removePieces(segment);
                piecesFollow = true;
                pieces = 0;
            }
            uploadedPartial = filled;
        }
    }

    /** Bytes of the segment being filled arrived since its last partial upload. */
    boolean unsaved() {
        return filled > uploadedPartial;
    }

    /** Half a segment arrived since the last partial upload, and every completed segment is durable. */
    boolean halfway() {
        return filled - uploadedPartial >= segmentSize / 2 && queue.isEmpty();
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
            int n = (int) Math.min(data.remaining(), segmentSize - filled);
            if (file == null) {
                file = FileChannel.open(partialFile(), StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                        StandardOpenOption.WRITE);
            }
            ByteBuffer part = data.slice(data.position(), n);
            while (part.hasRemaining()) {
                file.write(part);
            }
            data.position(data.position() + n);
            filled += n;
            if (filled == segmentSize) {
                file.close();
                file = null;
                // synchronous mode, a segment partly durable already: the rest as one more piece, and the segment is
                // durable now; storing it whole follows on the uploaders without holding the next commits
                boolean durable = uploads.synchronous() && piecesFollow && queue.onlyDurableUnderWay();
                if (durable) {
                    saveNew();
                    uploads.durableAsPieces(segment, segmentSize);
                }
                Path complete = spool.resolve(segment.name());
                Files.move(partialFile(), complete, StandardCopyOption.REPLACE_EXISTING);
                if (durable) {
                    queue.submitDurable(segment, complete);
                } else {
                    queue.submit(segment, complete);
                }
                segment = segment.next();
                filled = 0;
                uploadedPartial = 0;
                piecesFollow = false;
                pieces = 0;
                if (endSegment >= 0 && segment.number() >= endSegment) {
                    return true;
                }
            }
        }
        return false;
    }

    private Path partialFile() {
        return spool.resolve(segment.name() + ".partial");
    }

    /** The spooled partial segment is not needed after the attempt: the next one streams from what is durable. */
    @Override
    public void close() throws IOException {
        uploads.closeAppender();
        if (file != null) {
            file.close();
            file = null;
        }
        Files.deleteIfExists(partialFile());
    }
}
