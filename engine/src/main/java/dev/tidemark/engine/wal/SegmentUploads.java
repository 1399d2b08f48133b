package dev.tidemark.engine.wal;

import dev.tidemark.engine.basebackup.Workers;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.wal.ReplicationSlot.Acknowledger;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One stream's WAL into the repository: completed segments, encoded and uploaded by a few uploaders while the stream
 * reads on ({@link Queue}) and acknowledged to the server strictly in order, each only once it and every segment before
 * it is durable; the segment being written as a partial segment; and segments a stopped run had stored already.
 */
final class SegmentUploads {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class); // the stream's log lines keep their logger
    /** Segments encoded and uploaded at once, beside the stream (each holds a 16 MiB buffer while it is). */
    static final int UPLOADERS = 2;

    private final String databaseId;
    private final Repository repository;
    private final WalListener listener;
    private final StreamProgress progress;

    SegmentUploads(String databaseId, Repository repository, WalListener listener, StreamProgress progress) {
        this.databaseId = databaseId;
        this.repository = repository;
        this.listener = listener;
        this.progress = progress;
    }

    /** A pool of uploaders for one attempt, acknowledging through ack. */
    Queue open(Acknowledger ack, long segmentSize) {
        return new Queue(ack, segmentSize);
    }

    /**
     * The segments of one attempt on their way to the repository, oldest first. Closed after a clean
     * {@link #completeAll()}, it lets the uploaders end; otherwise it stops them and waits, acknowledging nothing more.
     */
    final class Queue implements AutoCloseable {
        private final ExecutorService uploaders = Executors.newFixedThreadPool(UPLOADERS, r -> {
            Thread t = new Thread(r, "wal-upload-" + databaseId);
            t.setDaemon(true);
            return t;
        });
        private final Deque<Pending> pending = new ArrayDeque<>();
        private final Deque<byte[]> spare = new ArrayDeque<>();
        private final Acknowledger ack;
        private final long segmentSize;
        private boolean drained;

        private Queue(Acknowledger ack, long segmentSize) {
            this.ack = ack;
            this.segmentSize = segmentSize;
        }

        /** A segment-sized buffer: one an acknowledged upload gave back, or a new one. */
        byte[] buffer() {
            return spare.isEmpty() ? new byte[(int) segmentSize] : spare.poll();
        }

        /** True when no upload is under way: the durable position is contiguous up to the segment being written. */
        boolean isEmpty() {
            return pending.isEmpty();
        }

        /** Hands a completed segment to an uploader; with too many under way, waits for the oldest first. */
        void submit(WalSegment complete, byte[] bytes) throws Exception {
            String segmentChain = progress.chain; // the uploader never reads a field a later attempt may change
            pending.add(new Pending(complete, bytes, uploaders.submit(() -> archiveSegment(segmentChain, complete, bytes))));
            while (pending.size() > UPLOADERS) {
                completeHead(); // bounded memory: wait for the oldest upload first
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
            drained = true;
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
                    progress.bytesArchived += head.buffer().length;
                }
                listener.segmentArchived(progress.chain, head.segment(), head.buffer().length);
            }
            progress.durable = head.segment().end();
            ack.durable(progress.durable);
            progress.reportDurable();
            if (spare.size() <= UPLOADERS) { // up to UPLOADERS + 1 in flight: reused, not allocated (16 MiB each)
                spare.add(head.buffer());
            }
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
                    if (p.segment().compareTo(conflict.segment) > 0 && p.result().isDone() && !p.result().isCancelled()) {
                        Archived a;
                        try {
                            a = p.result().get();
                        } catch (ExecutionException e) {
                            continue;
                        }
                        if (a.stored()) {
                            repository.store().delete(repository.layout().walSegment(databaseId, progress.chain, p.segment().name()));
                            removed.add(p.segment().name());
                        }
                    }
                }
            } catch (IOException | InterruptedException e) {
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
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
            if (drained) {
                uploaders.shutdown();
            } else {
                // failed or interrupted: nothing more is acknowledged; wait for the uploads under way, so that none
                // overlaps with the next attempt (which sends the same segments again: a no-op for those stored)
                Workers.stopAndWait(uploaders);
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
    private record Pending(WalSegment segment, byte[] buffer, Future<Archived> result) {
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
    private Archived archiveSegment(String chain, WalSegment segment, byte[] buffer) throws IOException {
        String key = repository.layout().walSegment(databaseId, chain, segment.name());
        Archived archived;
        if (repository.store().stat(key).isPresent()) {
            String sha = sha256(buffer, buffer.length);
            String existing = sha256Of(repository.openDecoded(key));
            if (!existing.equals(sha)) {
                String keptAs = repository.layout().walConflict(databaseId, chain, segment.name(), sha.substring(0, 16));
                repository.putEncoded(keptAs, new ByteArrayInputStream(buffer));
                log.error("WAL segment {} of {} arrived with content {} but the repository holds {}: kept the first, set the new one aside as {}",
                        segment, databaseId, sha.substring(0, 12), existing.substring(0, 12), keptAs);
                return new Archived(sha, false, existing, keptAs);
            }
            archived = new Archived(sha, false, null, null);
        } else {
            store(key, buffer, buffer.length);
            archived = new Archived(null, true, null, null);
        }
        repository.store().delete(repository.layout().walPartial(databaseId, chain, segment.name()));
        return archived;
    }

    /** Stores the first filled bytes of segment as its partial segment; the durable position moves to their end. */
    void uploadPartial(WalSegment segment, byte[] buffer, int filled) throws IOException {
        String key = repository.layout().walPartial(databaseId, progress.chain, segment.name());
        store(key, buffer, filled);
        Lsn end = segment.start().plus(filled);
        if (end.compareTo(progress.durable) > 0) {
            progress.durable = end;
        }
    }

    /** Stores WAL through the codec without hashing it (see {@link Archived}). */
    private void store(String key, byte[] buffer, int length) throws IOException {
        try (Repository.EncodingWriter writer = repository.openEncoded(key, false)) {
            writer.write(buffer, 0, length);
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

    static String sha256(byte[] data, int length) {
        java.security.MessageDigest md = Codec.sha256();
        md.update(data, 0, length);
        return HexFormat.of().formatHex(md.digest());
    }

    private static String sha256Of(InputStream in) throws IOException {
        try (in) {
            java.security.MessageDigest md = Codec.sha256();
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        }
    }
}
