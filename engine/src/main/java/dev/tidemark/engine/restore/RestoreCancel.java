package dev.tidemark.engine.restore;

import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.NotFoundException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Cancels a point-in-time restore that is requested or running; what it did is undone as for a failed one. */
public final class RestoreCancel {
    private static final Logger LOG = LoggerFactory.getLogger(RestoreCancel.class);

    private final Node node;
    private final RestoreJob job;

    public RestoreCancel(Node node, RestoreJob job) {
        this.node = node;
        this.job = job;
    }

    public void cancel(String databaseId, String restoreId, String actor) {
        DatabaseHistory h = node.history(databaseId);
        DatabaseHistory.Restore r = h.restore(restoreId).orElseThrow(() -> new NotFoundException(
                "database " + databaseId + " has no restore " + restoreId));
        if (r.status() != JobStatus.REQUESTED && r.status() != JobStatus.RUNNING) {
            throw CatalogRejection.conflict("restore " + restoreId + " is " + r.status() + ": there is nothing to cancel");
        }
        if ("dump".equals(r.kind())) {
            throw CatalogRejection.conflict("restore " + restoreId + " restores a dump in one pg_restore transaction: it completes or"
                    + " changes nothing, and is not cancelled halfway");
        }
        if (!job.cancel(databaseId, restoreId, actor)) {
            throw CatalogRejection.conflict("restore " + restoreId + " runs on node " + h.owner() + ": ask that node to cancel it");
        }
        LOG.info("restore {} of {}: cancelled by {}; it stops at its next step and undoes what it did", restoreId, databaseId, actor);
    }
}
