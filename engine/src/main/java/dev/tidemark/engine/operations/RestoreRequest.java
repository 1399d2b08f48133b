package dev.tidemark.engine.operations;

import java.time.OffsetDateTime;

/**
 * A restore: to a time (with an offset) or the latest moment, into a new directory and port or in place
 * (the database must be stopped; its directory is moved aside, never deleted). leaveStopped (in place only): once
 * recovered, the server is stopped for its service manager to start, instead of restarted the way it is normally
 * started. delta (in place only): restored where it is, without a copy, files that match left untouched; allowed only
 * when the repository can give the directory's current state back. checksum (with delta): files with the backup's
 * size and time are compared by SHA-256 too.
 */
public record RestoreRequest(OffsetDateTime time, boolean latest, String targetDir, Integer port, boolean inPlace,
                             Boolean leaveStopped, Boolean delta, Boolean checksum) {
    /** Left running once recovered. */
    public RestoreRequest(OffsetDateTime time, boolean latest, String targetDir, Integer port, boolean inPlace) {
        this(time, latest, targetDir, port, inPlace, null, null, null);
    }

    /** In place, the old directory moved aside. */
    public RestoreRequest(OffsetDateTime time, boolean latest, String targetDir, Integer port, boolean inPlace, Boolean leaveStopped) {
        this(time, latest, targetDir, port, inPlace, leaveStopped, null, null);
    }
}
