package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.time.Instant;

/** What the WAL streamer reports as it works; the engine turns these into catalog commands and metrics. */
public interface WalListener {

    /** A complete segment is durable in the repository (newly stored, or found there already with equal content). */
    void segmentArchived(String chain, WalSegment segment, long bytes);

    /** Every WAL byte below lsn is durable; serverTime is the newest server time whose WAL lies below lsn. */
    void durable(String chain, int timeline, Lsn lsn, Instant serverTime);

    /** The server moved to a new timeline at switchPoint; its history file is archived under historyKey. */
    void timelineSwitched(String chain, int fromTimeline, int toTimeline, Lsn switchPoint, String historyKey);

    /** The repository already held other content for this segment; the first is kept, the new one set aside under keptAs. */
    void conflict(String chain, WalSegment segment, String existingSha256, String newSha256, String keptAs);

    /** The server is not the system this stream belongs to any more (re-initialised or upgraded): streaming stopped. */
    void chainChanged(String expectedChain, String actualChain);

    /** Streaming failed and will be retried; message is for operators. */
    void streamFailed(String message, int consecutiveFailures);

    /**
     * In synchronous mode: received WAL has waited longer than the stall warning to become durable (the repository is
     * unreachable or slow, or the stream is down); the server's commits wait meanwhile. lastError: the stream's, or null.
     */
    default void synchronousStalled(java.time.Duration waited, String lastError) {
    }

    /** In synchronous mode: a reported stall is over, everything received is durable again. */
    default void synchronousResumed(java.time.Duration waited) {
    }

    /** A listener that ignores everything, for tests and tools. */
    WalListener NONE = new WalListener() {
        @Override public void segmentArchived(String chain, WalSegment segment, long bytes) { }
        @Override public void durable(String chain, int timeline, Lsn lsn, Instant serverTime) { }
        @Override public void timelineSwitched(String chain, int from, int to, Lsn switchPoint, String historyKey) { }
        @Override public void conflict(String chain, WalSegment segment, String existing, String fresh, String keptAs) { }
        @Override public void chainChanged(String expectedChain, String actualChain) { }
        @Override public void streamFailed(String message, int consecutiveFailures) { }
    };
}
