package dev.tidemark.engine.restore;

import dev.tidemark.engine.catalog.api.Commands;
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
        if (!h.active()) {
            // deregistered: no node holds its lease, so none runs it or would ever start it (asked before such requests were
            // refused); marked failed here, which frees the database (a purge among what it held back)
            node.catalog().send(new Commands.FailRestore(databaseId, restoreId, "cancelled by " + actor + ": the database is"
                    + " deregistered and no node ran the restore (nothing was written)", node.clock().instant()), actor);
            LOG.info("restore {} of deregistered {}: cancelled by {}, never run", restoreId, databaseId, actor);
            return;
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
