package dev.tidemark.engine.operations;

import java.time.Instant;

/**
 * How far a running backup, dump or restore has come. replay: while a restore's recovery replays WAL, its position
 * against the target; null otherwise.
 */
public record Progress(String phase, long bytesDone, long bytesTotal, long filesDone, long filesTotal, double bytesPerSecond,
                       int percent, Replay replay) {

    /** Without a replay. */
    public Progress(String phase, long bytesDone, long bytesTotal, long filesDone, long filesTotal, double bytesPerSecond, int percent) {
        this(phase, bytesDone, bytesTotal, filesDone, filesTotal, bytesPerSecond, percent, null);
    }

    /**
     * The replay's position against where it stops: lsn replayed so far and targetLsn (the stop point the restore found
     * in the WAL, or the end of the archived WAL); lastCommitAt, the commit time of the last transaction replayed (null
     * before the first), against targetTime (null: to the latest moment).
     */
    public record Replay(String lsn, String targetLsn, Instant lastCommitAt, Instant targetTime) {
    }
}
