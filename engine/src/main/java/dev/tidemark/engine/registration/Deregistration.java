package dev.tidemark.engine.registration;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.engine.wal.Streams;
import dev.tidemark.engine.wal.WalStreamSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * What runs on the owning node when a database is deregistered: its stream stops, its replication slot is dropped (so
 * the server no longer keeps WAL for Tidemark), and with purge its backups, dumps and WAL are deleted from the repository
 * (its events stay, as its history does in the catalog).
 */
public final class Deregistration {
    private static final Logger LOG = LoggerFactory.getLogger(Deregistration.class);

    private final Node node;
    private final Streams streams;

    /** Registers the handler of DatabaseDeregistered with the node. */
    public Deregistration(Node node, Streams streams) {
        this.node = node;
        this.streams = streams;
        node.events().onOwned(DatabaseEvent.DatabaseDeregistered.class, e -> node.jobs().execute(() -> run(e.databaseId(), e.purge())));
    }

    private void run(String databaseId, boolean purge) {
        DatabaseHistory db = node.find(databaseId).orElse(null);
        streams.stop(databaseId);
        if (db != null) {
            try (Connection c = node.primary(db).open()) {
                new ServerQueries(c).dropSlotIfInactive(WalStreamSettings.defaults(databaseId).slotName());
                LOG.info("database {} deregistered: replication slot dropped, so the server no longer keeps WAL for Tidemark", databaseId);
            } catch (SQLException e) {
                LOG.warn("database {} deregistered, but its replication slot could not be dropped ({}); drop it by hand: "
                        + "select pg_drop_replication_slot('{}')", databaseId, e.getMessage(), WalStreamSettings.defaults(databaseId).slotName());
            }
        }
        if (purge) {
            String prefix = node.repository().layout().databasePrefix(databaseId);
            // its history (the catalog's events, encrypted as every object) stays: an engine rebuilt from the repository
            // alone knows the database was purged, lists its backups as such, and keeps its id taken
            String history = node.repository().layout().eventsPrefix(databaseId);
            try {
                LOG.info("database {} purged: {} objects deleted from the repository (its history of events kept)", databaseId,
                        node.repository().deleteUnder(prefix, history));
            } catch (IOException | RuntimeException e) {
                LOG.warn("purging the objects of {} failed: {}; run the deregistration again or delete {} by hand", databaseId,
                        e.getMessage(), prefix);
            }
        }
    }
}
