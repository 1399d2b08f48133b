package dev.tidemark.engine.catalog;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/**
 * Where a base backup, a dump or a restore stands. Written as its lower-case name (in snapshots, the read model's rows
 * and the API): "requested", "running", "completed", "failed", "expired" (a completed backup or dump retention removed).
 */
public enum JobStatus {
    REQUESTED, RUNNING, COMPLETED, FAILED, EXPIRED;

    /** The lower-case name the API, the read model and snapshots use. */
    @JsonValue
    public String wire() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static JobStatus of(String wire) {
        return valueOf(wire.toUpperCase(Locale.ROOT));
    }

    /** Requested or running: not ended yet. */
    public boolean inProgress() {
        return this == REQUESTED || this == RUNNING;
    }

    @Override
    public String toString() {
        return wire();
    }
}
