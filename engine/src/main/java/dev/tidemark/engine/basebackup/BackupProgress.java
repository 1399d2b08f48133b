package dev.tidemark.engine.basebackup;

/** How far a running base backup or restore has come, for the API and the CLI's progress bar. */
public record BackupProgress(String phase, long bytesDone, long bytesTotal, long filesDone, long filesTotal, double bytesPerSecond) {

    public static BackupProgress starting(String phase) {
        return new BackupProgress(phase, 0, 0, 0, 0, 0);
    }

    public int percent() {
        return bytesTotal <= 0 ? 0 : (int) Math.min(100, bytesDone * 100 / bytesTotal);
    }
}
