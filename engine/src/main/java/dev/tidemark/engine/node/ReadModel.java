package dev.tidemark.engine.node;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogRows;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Optional;

/** The read-model rows the views list from, once they are current, and the rules the views share. */
public final class ReadModel {
    private static final Logger LOG = LoggerFactory.getLogger(ReadModel.class);
    private static final Duration ROWS_WAIT = Duration.ofSeconds(3);

    private final Catalog catalog;
    private volatile boolean lagging;

    public ReadModel(Catalog catalog) {
        this.catalog = catalog;
    }

    /**
     * The read-model rows of a database once they hold everything this node knows of it (its processor runs a few
     * milliseconds behind the commands); empty when they lag longer, and the in-memory history answers then.
     */
    public Optional<CatalogRows> rows(DatabaseHistory h) {
        CatalogRows rows = catalog.rows();
        if (rows.awaitVersion(h.id(), h.version(), ROWS_WAIT)) {
            return Optional.of(rows);
        }
        if (!lagging) {
            lagging = true;
            LOG.warn("the read model of {} lags behind the catalog (its processor may be claimed by a node that stopped); "
                    + "answering from this node's view meanwhile", h.id());
        }
        return Optional.empty();
    }

    /** A backup of a database deregistered with purge is gone whatever it was: listed as "purged". */
    public static String shownStatus(DatabaseHistory h, JobStatus status) {
        return h.purged() && (status == JobStatus.COMPLETED || status == JobStatus.EXPIRED) ? "purged" : status.wire();
    }
}
