package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.DatabaseEvent;
import org.axonframework.config.ProcessingGroup;
import org.axonframework.eventhandling.EventHandler;
import org.axonframework.eventhandling.SequenceNumber;
import org.axonframework.eventhandling.Timestamp;
import org.axonframework.messaging.annotation.MetaDataValue;

import java.time.Instant;

/**
 * Reads the event store behind the commands of this node, so that the read model also learns what other engine nodes
 * sharing the catalog committed (and this node's work dispatcher hears of it). Run by a tracking processor that
 * starts at the head of the store when the catalog opens.
 */
@ProcessingGroup(CatalogSync.GROUP)
final class CatalogSync {
    static final String GROUP = "catalog-sync";
    private final CatalogView view;

    CatalogSync(CatalogView view) {
        this.view = view;
    }

    @EventHandler
    void on(DatabaseEvent event, @SequenceNumber long sequence, @Timestamp Instant timestamp, @MetaDataValue("actor") String actor) {
        view.synced(event, sequence, timestamp, actor);
    }
}
