package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.operations.Progress;

/**
 * How far a running base backup or restore has come, for the API and the CLI's progress bar; replay: a restore's
 * replay position against its target while it replays WAL (null otherwise).
 */
public record BackupProgress(String phase, long bytesDone, long bytesTotal, long filesDone, long filesTotal, double bytesPerSecond,
                             Progress.Replay replay) {

    public BackupProgress(String phase, long bytesDone, long bytesTotal, long filesDone, long filesTotal, double bytesPerSecond) {
        this(phase, bytesDone, bytesTotal, filesDone, filesTotal, bytesPerSecond, null);
    }

    public static BackupProgress starting(String phase) {
        return new BackupProgress(phase, 0, 0, 0, 0, 0);
    }

    public int percent() {
        return bytesTotal <= 0 ? 0 : (int) Math.min(100, bytesDone * 100 / bytesTotal);
    }
}
