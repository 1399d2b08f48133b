package dev.tidemark.engine.basebackup;

import java.time.Duration;
import java.time.Instant;

/** What a base backup asks of the database's WAL stream (answered by the streams of the wal package). */
public interface StreamedWal {

    /** Waits until the database's stream has made durable every byte of a chain below a position. */
    DurableWal durableWal(String databaseId);

    /** Waits (up to timeout) until the stream's durable server time reaches time, so a completed backup is in the window at once. */
    void awaitDurableTime(String databaseId, Instant time, Duration timeout) throws InterruptedException;

    /** Hands the WAL gathered so far to the catalog. */
    void flush(String databaseId);
}
