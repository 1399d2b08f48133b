package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.node.Node;

/** Asks for a base backup: recorded at once, taken by the job of the node that owns the database. */
public final class BaseBackupRequest {
    private final Node node;

    public BaseBackupRequest(Node node) {
        this.node = node;
    }

    /** Records the request (the catalog refuses a second backup while one is under way); returns the backup id. */
    public String ask(String databaseId, String trigger, String actor) {
        node.history(databaseId);
        String backupId = node.newId("base");
        node.catalog().send(new Commands.RequestBaseBackup(databaseId, backupId, trigger, node.clock().instant()), actor);
        return backupId;
    }
}
