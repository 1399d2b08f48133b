package dev.tidemark.engine.operations;

import java.time.OffsetDateTime;

/**
 * A restore: to a time (with an offset) or the latest moment, into a new directory and port or in place
 * (the database must be stopped; its directory is moved aside, never deleted).
 */
public record RestoreRequest(OffsetDateTime time, boolean latest, String targetDir, Integer port, boolean inPlace) {
}
