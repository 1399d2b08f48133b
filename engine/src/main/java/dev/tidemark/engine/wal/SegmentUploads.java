package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.wal.ReplicationSlot.Acknowledger;
import dev.tidemark.storage.AppendedPieces;
import dev.tidemark.storage.Appender;
import dev.tidemark.storage.PartialSegment;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.Compression;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * One stream's WAL into the repository: completed segments, encoded and uploaded on the engine's shared uploaders while
 * the stream reads on ({@link Queue}) and acknowledged to the server strictly in order, each only once it and every
 * segment before it is durable; the segment being written as a partial segment; and segments a stopped run had stored
 * already. A completed segment waits in the stream's spool file (or, read from pg_wal, in a buffer borrowed from the
 * engine's {@link WalBuffers}) until its upload is done.
 */
final class SegmentUploads {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class); // the stream's log lines keep their logger
    private static final int COPY_BUFFER = 256 << 10;

    private final String databaseId;
    private final Repository repository;
    private final WalListener listener;
    private final StreamProgress progress;
    private final WalBuffers buffers;
    private Repository pieces;
    private Appending appending;

    SegmentUploads(String databaseId, Repository repository, WalListener listener, StreamProgress progress, WalBuffers buffers) {
        this.databaseId = databaseId;
        this.repository = repository;
        this.listener = listener;
        this.progress = progress;
        this.buffers = buffers;
    }

    /** Removes what an earlier run of this stream left in its spool directory. */
    void clearSpool() {
        try (var files = Files.list(spool())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            log.warn("could not clear the WAL spool of {}: {}", databaseId, e.getMessage());
        }
    }

    /** The uploads of one attempt, acknowledging through ack. */
    Queue open(Acknowledger ack, long segmentSize) {
        return new Queue(ack, segmentSize);
    }

    /** The directory this stream spools the segment it is writing in. */
    Path spool() throws IOException {
        return buffers.spoolOf(databaseId);
    }

    /**
     * The segments of one attempt on their way to the repository, oldest first, at most
     * {@value WalBuffers#PER_STREAM_IN_FLIGHT} at once. Closed after a clean {@link #completeAll()}, nothing is left;
     * otherwise it stops the uploads under way and waits for them, acknowledging nothing more.
     */
    final class Queue implements AutoCloseable {
        private final Deque<Pending> pending = new ArrayDeque<>();
        private final Acknowledger ack;
        private final long segmentSize;

        private Queue(Acknowledger ack, long segmentSize) {
            this.ack = ack;
            this.segmentSize = segmentSize;
        }

        /** A segment-sized buffer from the engine's; waits while they are all lent out. Give it back or submit it. */
        byte[] buffer() throws InterruptedException {
            return buffers.borrow((int) segmentSize);
        }

        /** Returns a buffer that was not submitted. */
        void giveBack(byte[] buffer) {
            buffers.giveBack(buffer);
        }

        /** True when no upload is under way: the durable position is contiguous up to the segment being written. */
        boolean isEmpty() {
            return pending.isEmpty();
        }

        /**
         * Synchronous mode: true when every segment under way is durable already (as its partial segment and pieces), so
         * the durable position is contiguous up to the segment being written although their whole objects are not stored yet.
         */
        boolean onlyDurableUnderWay() {
            return pending.stream().allMatch(Pending::durable);
        }

        /** Hands a completed segment held in a borrowed buffer to the uploaders; the buffer goes back after its upload. */
        void submit(WalSegment complete, byte[] borrowed) throws Exception {
            submit(complete, new InMemory(borrowed));
        }

        /** Hands a completed segment in a spool file to the uploaders; the file is removed after its upload. */
        void submit(WalSegment complete, Path spooled) throws Exception {
            submit(complete, new Spooled(spooled, segmentSize), false);
        }

        /**
         * Synchronous mode: hands a completed segment that is durable already, as its partial segment and pieces, to the
         * uploaders to be stored whole; it was recorded as archived when it became durable.
         */
        void submitDurable(WalSegment complete, Path spooled) throws Exception {
            submit(complete, new Spooled(spooled, segmentSize), true);
        }

        private void submit(WalSegment complete, SegmentBytes bytes) throws Exception {
            submit(complete, bytes, false);
        }

        /** With too many of this stream's segments under way, waits for the oldest first. */
        private void submit(WalSegment complete, SegmentBytes bytes, boolean durable) throws Exception {
            String segmentChain = progress.chain; // the uploader never reads a field a later attempt may change
            CompletableFuture<Archived> result = new CompletableFuture<>();
            Thread uploader = Thread.ofVirtual().name("wal-upload-" + databaseId).start(() -> {
                try {
                    result.complete(buffers.upload(() -> archiveSegment(segmentChain, complete, bytes)));
                } catch (Throwable e) {
                    result.completeExceptionally(e);
                } finally {
                    bytes.release();
                }
            });
            pending.add(new Pending(complete, bytes.length(), result, uploader, durable));
            while (pending.size() > WalBuffers.PER_STREAM_IN_FLIGHT) {
                completeHead(); // bounded: wait for the oldest upload first
            }
        }

        /** Acknowledges every finished upload at the head of the queue. */
        void completeReady() throws Exception {
            while (!pending.isEmpty() && pending.peek().result().isDone()) {
                completeHead();
            }
        }

        /** Waits for every upload under way and acknowledges each, in order. */
        void completeAll() throws Exception {
            while (!pending.isEmpty()) {
                completeHead();
            }
        }

        /** Waits for the oldest upload; once durable, its segment is recorded and the server may release it. */
        private void completeHead() throws Exception {
            Pending head = pending.peek();
            Archived archived;
            try {
                archived = head.result().get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Exception ex) {
                    throw ex;
                }
                throw new IOException("uploading " + head.segment() + " failed: " + cause, cause);
            }
            if (archived.keptAs() != null && !ack.acceptsConflict()) {
                throw new ConflictInCatchUp(head.segment(), archived.keptAs());
            }
            pending.poll();
            if (archived.keptAs() != null) {
                listener.conflict(progress.chain, head.segment(), archived.existingSha256(), archived.sha256(), archived.keptAs());
            } else {
                if (archived.stored()) {
                    progress.segmentsArchived++;
                    progress.bytesArchived += head.length();
                }
                if (!head.durable()) {
                    listener.segmentArchived(progress.chain, head.segment(), head.length());
                }
            }
            if (head.segment().end().compareTo(progress.durable) > 0) { // a synchronous stream may be further already
                progress.durable = head.segment().end();
            }
            ack.durable(progress.durable);
            progress.reportDurable();
        }

        /**
         * After a conflict in a catch-up, what the catch-up read is not trusted further: the segments after the conflicting one
         * that it stored (unacknowledged) are removed again, and so is the copy of the conflicting one it set aside, so that
         * the stream stores and compares the server's own bytes for all of them.
         */
        void forgetAfterConflict(ConflictInCatchUp conflict) {
            List<String> removed = new ArrayList<>();
            try {
                repository.store().delete(conflict.keptAs);
                for (Pending p : pending) {
                    if (p.segment().compareTo(conflict.segment) > 0 && p.result().isDone() && !p.result().isCompletedExceptionally()) {
                        if (p.result().join().stored()) {
                            repository.store().delete(repository.layout().walSegment(databaseId, progress.chain, p.segment().name()));
                            removed.add(p.segment().name());
                        }
                    }
                }
            } catch (IOException e) {
                log.warn("WAL of {}: could not remove what the catch-up stored after {} ({}): the stream compares them with the"
                        + " server's bytes as it sends them", databaseId, conflict.segment, e.getMessage());
                return;
            }
            if (!removed.isEmpty()) {
                log.info("WAL of {}: removed {} again, stored by the catch-up after the conflicting {}: the stream sends them",
                        databaseId, removed, conflict.segment);
            }
        }

        @Override
        public void close() {
            // after a failure or a stop nothing more is acknowledged: the uploads under way are stopped and waited for, so
            // that none overlaps with the next attempt (which sends the same segments again: a no-op for those stored)
            for (Pending p : pending) {
                p.uploader().interrupt();
            }
            boolean interrupted = false;
            for (Pending p : pending) {
                while (true) {
                    try {
                        p.uploader().join();
                        break;
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** A segment read during a catch-up differs from the repository's copy: the catch-up ends before it. */
    static final class ConflictInCatchUp extends Exception {
        final WalSegment segment;
        final String keptAs;

        ConflictInCatchUp(WalSegment segment, String keptAs) {
            super("the repository holds other content for " + segment + " than the file " + segment.name()
                    + " in pg_wal: the stream sends the server's own bytes for it");
            this.segment = segment;
            this.keptAs = keptAs;
        }
    }

    /** A completed segment being uploaded. */
    private record Pending(WalSegment segment, long length, CompletableFuture<Archived> result, Thread uploader, boolean durable) {
    }

    /** Where the bytes of a completed segment are until it is uploaded; released (given back, removed) after. */
    private sealed interface SegmentBytes {
        long length();

        InputStream open() throws IOException;

        void release();
    }

    /** Read from pg_wal into a buffer borrowed from the engine's. */
    private final class InMemory implements SegmentBytes {
        private final byte[] buffer;

        InMemory(byte[] buffer) {
            this.buffer = buffer;
        }

        public long length() {
            return buffer.length;
        }

        public InputStream open() {
            return new ByteArrayInputStream(buffer);
        }

        public void release() {
            buffers.giveBack(buffer);
        }
    }

    /** Streamed into the stream's spool file. */
    private record Spooled(Path file, long length) implements SegmentBytes {
        public InputStream open() throws IOException {
            return Files.newInputStream(file);
        }

        public void release() {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                log.warn("could not remove the spooled WAL segment {}: {}", file, e.getMessage());
            }
        }
    }

    /**
     * What an upload found: stored now, or there already with the same content, or with another (kept aside). The
     * SHA-256 values are known only when the repository already had the segment: a new segment is not hashed, as
     * nothing would keep the hash (each frame of the object is authenticated by the codec, and every WAL record by
     * its CRC), and hashing 16 MiB costs about a third of an upload's CPU.
     */
    private record Archived(String sha256, boolean stored, String existingSha256, String keptAs) {
    }

    /** Runs on an uploader: stores the segment unless the repository has it; a different content is set aside. */
    private Archived archiveSegment(String chain, WalSegment segment, SegmentBytes bytes) throws IOException {
        String key = repository.layout().walSegment(databaseId, chain, segment.name());
        Archived archived;
        if (repository.store().stat(key).isPresent()) {
            String sha = sha256Of(bytes.open());
            String existing = sha256Of(repository.openDecoded(key));
            if (!existing.equals(sha)) {
                String keptAs = repository.layout().walConflict(databaseId, chain, segment.name(), sha.substring(0, 16));
                repository.putEncoded(keptAs, bytes.open());
                log.error("WAL segment {} of {} arrived with content {} but the repository holds {}: kept the first, set the new one aside as {}",
                        segment, databaseId, sha.substring(0, 12), existing.substring(0, 12), keptAs);
                return new Archived(sha, false, existing, keptAs);
            }
            archived = new Archived(sha, false, null, null);
        } else {
            store(key, bytes.open(), bytes.length());
            archived = new Archived(null, true, null, null);
        }
        String partialKey = repository.layout().walPartial(databaseId, chain, segment.name());
        repository.store().delete(partialKey);
        if (progress.synchronous || bytes instanceof Spooled) {
            removePiecesLater(partialKey); // one read from pg_wal had no partial uploads in this run (pieces left before: retention)
        }
        return archived;
    }

    /**
     * Removes the pieces of a segment that is now stored whole, on a thread of its own: every reader takes the whole
     * segment over them, and a synchronous stream's next commits should not wait for hundreds of deletes (retention
     * removes any a failure leaves).
     */
    private void removePiecesLater(String partialKey) {
        Thread.ofVirtual().name("wal-pieces-" + databaseId).start(() -> {
            try {
                repository.store().deleteAll(PartialSegment.following(repository.store(), partialKey));
            } catch (IOException | RuntimeException e) {
                log.debug("WAL of {}: pieces of {} not removed now ({}); retention removes them", databaseId, partialKey, e.getMessage());
            }
        });
    }

    /**
     * Stores the first filled bytes of segment, spooled in file, as its partial segment (on one of the engine's upload
     * slots); the durable position moves to their end.
     */
    void uploadPartial(WalSegment segment, Path file, long filled) throws Exception {
        String key = repository.layout().walPartial(databaseId, progress.chain, segment.name());
        buffers.upload(() -> {
            store(key, Files.newInputStream(file), filled);
            return null;
        });
        advanceDurable(segment, filled);
    }

    /**
     * Synchronous mode: stores the bytes of segment from from to to, spooled in file, as a piece after its partial
     * segment (which holds at least the bytes before from): appended to the segment's one object of pieces where the store
     * can grow an object, else an object of its own. The durable position moves to to. Only what is new is encoded and sent.
     */
    void uploadPiece(WalSegment segment, Path file, long from, long to) throws Exception {
        buffers.upload(() -> {
            try (FileChannel channel = FileChannel.open(file)) {
                // appended only for a synchronous stream, whose commits wait for each piece: an asynchronous one's
                // pieces (one every partial interval) stay objects of their own, which a key rotation rewraps at once,
                // where an appended file can be rotated only once its segment is complete
                Appender appender = progress.synchronous ? appenderFor(segment) : null;
                if (appender != null) {
                    ByteBuffer bytes = ByteBuffer.allocate((int) (to - from));
                    while (bytes.hasRemaining() && channel.read(bytes, from + bytes.position()) >= 0) {
                        // until the piece is read whole
                    }
                    if (bytes.hasRemaining()) {
                        throw new IOException("the spooled WAL of " + segment + " ends before " + to);
                    }
                    try {
                        AppendedPieces.append(appender, pieces().codec(), segment.name(), from, bytes.array(), 0, bytes.capacity());
                    } catch (IOException | RuntimeException e) {
                        closeAppender(); // the next attempt starts the segment's pieces anew
                        throw e;
                    }
                } else {
                    String key = repository.layout().walPartialPiece(databaseId, progress.chain, segment.name(), from, to);
                    store(pieces(), key, Channels.newInputStream(channel.position(from)), to - from);
                }
            }
            return null;
        });
        advanceDurable(segment, to);
    }

    /**
     * Synchronous mode, where the store can grow an object in place (a file repository): the appender of segment's pieces,
     * opened with its first piece of this attempt; null where each piece is an object of its own (S3). One append and one fdatasync per
     * group commit, where an object of its own costs a temporary file, two fsyncs and a rename.
     */
    private Appender appenderFor(WalSegment segment) throws IOException {
        String key = repository.layout().walPartialAppended(databaseId, progress.chain, segment.name());
        if (appending != null && appending.key().equals(key)) {
            return appending.appender();
        }
        closeAppender();
        Optional<Appender> appender = repository.store().appender(key);
        appender.ifPresent(a -> appending = new Appending(key, a));
        return appender.orElse(null);
    }

    /** Closes the appender of the segment pieces were appended to last (its object stays). */
    void closeAppender() {
        if (appending != null) {
            try {
                appending.appender().close();
            } catch (IOException e) {
                log.debug("WAL of {}: closing {} failed: {}", databaseId, appending.key(), e.getMessage());
            }
            appending = null;
        }
    }

    /** The object pieces are appended to and its appender. */
    private record Appending(String key, Appender appender) {
    }

    /**
     * The repository as pieces are written to it: encrypted like every object, not compressed. A piece waits for a commit,
     * compressing a few kilobytes costs about as much as writing them (zstd's context per object), and a piece lives only
     * until its segment is stored whole, compressed. The reader follows each object's own header.
     */
    private Repository pieces() {
        if (pieces == null) {
            CodecSettings settings = repository.codec().settings();
            pieces = new Repository(repository.store(), repository.layout(),
                    new Codec(new CodecSettings(Compression.NONE, 0, settings.key())));
        }
        return pieces;
    }

    /**
     * After the partial segment is stored whole: removes the pieces an earlier attempt left after it (their bytes after a
     * crash of the primary need not be the server's now), or those it now holds itself.
     */
    void removePieces(WalSegment segment) throws IOException {
        String partialKey = repository.layout().walPartial(databaseId, progress.chain, segment.name());
        if (appending != null && appending.key().startsWith(partialKey + ".")) {
            closeAppender();
        }
        repository.store().deleteAll(PartialSegment.following(repository.store(), partialKey));
    }

    /** Synchronous mode: the whole segment is durable as its partial segment and pieces: recorded as archived now. */
    void durableAsPieces(WalSegment segment, long segmentSize) {
        listener.segmentArchived(progress.chain, segment, segmentSize);
    }

    /** Whether the stream runs in synchronous mode. */
    boolean synchronous() {
        return progress.synchronous;
    }

    private void advanceDurable(WalSegment segment, long filled) {
        Lsn end = segment.start().plus(filled);
        if (end.compareTo(progress.durable) > 0) {
            progress.durable = end;
        }
    }

    /** Stores the first length bytes of in through the codec without hashing them (see {@link Archived}). */
    private void store(String key, InputStream in, long length) throws IOException {
        store(repository, key, in, length);
    }

    /** As {@link #store(String, InputStream, long)}, through the codec of to. */
    private static void store(Repository to, String key, InputStream in, long length) throws IOException {
        try (in; Repository.EncodingWriter writer = to.openEncoded(key, false)) {
            byte[] buffer = new byte[COPY_BUFFER];
            long left = length;
            while (left > 0) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                if (n < 0) {
                    throw new IOException("WAL for " + key + " ends " + left + " bytes short of " + length);
                }
                writer.write(buffer, 0, n);
                left -= n;
            }
            writer.commit();
        }
    }

    /**
     * The segments from the durable position up to the slot that the repository holds already: acknowledged by a run
     * that stopped (was killed) before it recorded them. They are reported as archived instead of streamed again: the
     * server may have recycled them since. The durable position moves to the end of the last one found.
     */
    void adoptArchived(Lsn slotStart, long segmentSize) throws IOException {
        String chain = progress.chain;
        WalSegment segment = WalSegment.containing(progress.timeline, progress.durable, segmentSize);
        Lsn from = progress.durable;
        int adopted = 0;
        while (segment.end().compareTo(slotStart) <= 0
                && repository.store().stat(repository.layout().walSegment(databaseId, chain, segment.name())).isPresent()) {
            listener.segmentArchived(chain, segment, segmentSize);
            progress.durable = segment.end();
            adopted++;
            segment = segment.next();
        }
        if (adopted > 0) {
            if (progress.durableTime != null) {
                // dated by the recorded end: no later than the truth
                listener.durable(chain, progress.timeline, progress.durable, progress.durableTime);
            }
            log.info("WAL of {} from {} to {} is in the repository already ({} segments acknowledged before the stream stopped, not"
                    + " yet recorded): recorded now", databaseId, from, progress.durable, adopted);
            progress.publishStatus();
        }
    }

    private static String sha256Of(InputStream in) throws IOException {
        try (in) {
            java.security.MessageDigest md = Codec.sha256();
            byte[] buf = new byte[COPY_BUFFER];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        }
    }
}
