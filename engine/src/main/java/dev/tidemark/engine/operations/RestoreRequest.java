package dev.tidemark.engine.operations;

import java.time.OffsetDateTime;

/**
 * A restore: to a time (with an offset) or the latest moment, into a new directory and port or in place
 * (the database must be stopped; its directory is moved aside, never deleted). leaveStopped (in place only): once
 * recovered, the server is stopped for its service manager to start, instead of restarted the way it is normally
 * started.
 */
public record RestoreRequest(OffsetDateTime time, boolean latest, String targetDir, Integer port, boolean inPlace,
                             Boolean leaveStopped) {
    /** Left running once recovered. */
    public RestoreRequest(OffsetDateTime time, boolean latest, String targetDir, Integer port, boolean inPlace) {
        this(time, latest, targetDir, port, inPlace, null);
    }
}
