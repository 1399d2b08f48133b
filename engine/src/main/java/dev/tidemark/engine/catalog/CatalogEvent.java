package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.DatabaseEvent;

import java.time.Instant;

/** A committed event with where it sits in its database's stream, when it was recorded and who asked for it. */
public record CatalogEvent(DatabaseEvent event, long sequence, Instant timestamp, String actor) {
    public String databaseId() {
        return event.databaseId();
    }

    public String type() {
        return event.getClass().getSimpleName();
    }
}
