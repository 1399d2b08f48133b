package dev.tidemark.engine.wal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.Semaphore;

/**
 * What every WAL stream of the engine shares, so that a protected database costs its replication connection and a small
 * state, not buffers and threads of its own: the memory for segment-sized buffers (a stream borrows one only while a
 * segment of it is in memory, which is a segment read from pg_wal in a catch-up; streamed bytes are spooled to a file per
 * stream, as pg_receivewal keeps one), the uploads under way (each encodes and stores one segment or partial segment, on a
 * virtual thread, at most {@link #uploaders()} at once engine-wide, first come first served), and the directory the
 * streams spool their segments in.
 */
public final class WalBuffers {
    private static final long MIB = 1L << 20;
    /** Completed segments of one stream on their way at once: a stream writing hard leaves the others their turn. */
    static final int PER_STREAM_IN_FLIGHT = 2;

    private static WalBuffers standalone;

    private final long memory;
    private final Semaphore memoryMib;
    private final Semaphore uploadSlots;
    private final int uploaders;
    private final Path spool;
    private final Map<Integer, Deque<byte[]>> spare = new HashMap<>();

    /**
     * @param memory    bytes of segment buffers at most (at least two 16 MiB segments' worth)
     * @param uploaders uploads (codec and store) at once, engine-wide
     * @param spool     where each stream keeps the segment it is writing (a directory per stream)
     */
    public WalBuffers(long memory, int uploaders, Path spool) {
        this.memory = Math.max(memory, 32 * MIB);
        this.memoryMib = new Semaphore((int) (this.memory / MIB), true);
        this.uploaders = Math.max(1, uploaders);
        this.uploadSlots = new Semaphore(this.uploaders, true);
        this.spool = spool;
    }

    /**
     * The engine's default when nothing is configured: a quarter of the maximum heap, between 32 and 256 MiB, and
     * twice as many uploaders as cores (an upload waits on the store as much as it encodes), at least four.
     */
    public static long defaultMemory() {
        return Math.clamp(Runtime.getRuntime().maxMemory() / 4, 32 * MIB, 256 * MIB);
    }

    public static int defaultUploaders() {
        return Math.max(4, 2 * Runtime.getRuntime().availableProcessors());
    }

    /** The buffers of streams made on their own (tests, tools): one set per process, spooling in a temp directory. */
    static synchronized WalBuffers standalone() {
        if (standalone == null) {
            try {
                standalone = new WalBuffers(defaultMemory(), defaultUploaders(), Files.createTempDirectory("tidemark-wal-spool-"));
            } catch (IOException e) {
                throw new UncheckedIOException("no temp directory for the WAL spool: " + e.getMessage(), e);
            }
        }
        return standalone;
    }

    public long memory() {
        return memory;
    }

    public int uploaders() {
        return uploaders;
    }

    /** The directory one stream spools its segment in, created when missing. */
    Path spoolOf(String databaseId) throws IOException {
        return Files.createDirectories(spool.resolve(databaseId));
    }

    /** A buffer of size bytes; waits while the engine's segment buffers are all lent out. */
    byte[] borrow(int size) throws InterruptedException {
        memoryMib.acquire(mib(size));
        synchronized (spare) {
            Deque<byte[]> free = spare.get(size);
            if (free != null && !free.isEmpty()) {
                return free.poll();
            }
        }
        return new byte[size];
    }

    /** Gives a borrowed buffer back, for the next borrower of that size. */
    void giveBack(byte[] buffer) {
        synchronized (spare) {
            spare.computeIfAbsent(buffer.length, k -> new ArrayDeque<>()).add(buffer);
        }
        memoryMib.release(mib(buffer.length));
    }

    /** MiB of segment buffers lent out now. */
    public long borrowedMib() {
        return memory / MIB - memoryMib.availablePermits();
    }

    /** Runs an upload once one of the engine's upload slots is free (in the order they were asked for). */
    <T> T upload(Callable<T> work) throws Exception {
        uploadSlots.acquire();
        try {
            return work.call();
        } finally {
            uploadSlots.release();
        }
    }

    private static int mib(int size) {
        return (int) ((size + MIB - 1) / MIB);
    }

    @Override
    public String toString() {
        return "WAL buffers: " + (memory >> 20) + " MiB, " + uploaders + " uploaders, spool " + spool;
    }
}
