package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.postgres.Lsn;

import java.time.Duration;

/** Tells a base backup when the WAL it needs is durable in the repository (answered by the WAL streamer). */
@FunctionalInterface
public interface DurableWal {

    /**
     * Waits until every WAL byte of chain below lsn is durable, streamed on timeline (or a later one); false when
     * timeout passes first.
     */
    boolean awaitDurable(String chain, int timeline, Lsn lsn, Duration timeout) throws InterruptedException;
}
