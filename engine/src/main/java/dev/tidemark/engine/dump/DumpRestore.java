package dev.tidemark.engine.dump;

import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.basebackup.BaseBackupViews;
import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.node.Jobs;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.ServerQueries;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Optional;

/**
 * Restores one database of a completed dump into an existing database of the protected server (pg_restore --clean,
 * one transaction): the request, checked against the server, and the job that runs it on the owning node.
 */
public final class DumpRestore {
    private static final Logger LOG = LoggerFactory.getLogger(DumpRestore.class);
    static final String KIND = "dump";

    private final Node node;
    private final PgBinaries binaries;

    /** Registers the job's event handler and start hook with the node. */
    public DumpRestore(Node node, PgBinaries binaries) {
        this.node = node;
        this.binaries = binaries;
        node.events().onOwned(DatabaseEvent.RestoreRequested.class, e -> {
            if (KIND.equals(e.kind())) {
                submit(e.databaseId(), e.restoreId());
            }
        });
        node.events().onInterrupted(this::failInterrupted);
        node.events().onQueued(db -> db.restores().stream().filter(r -> KIND.equals(r.kind()) && r.status() == JobStatus.REQUESTED)
                .forEach(r -> submit(db.id(), r.id())));
    }

    /** Records a dump restore after checking the target database; returns the restore id. */
    public String ask(String databaseId, String dumpId, String database, String targetDatabase, boolean replace, String actor) {
        DatabaseHistory h = node.history(databaseId);
        if (h.purged()) {
            throw CatalogRejection.conflict("database " + databaseId + " was deregistered with its backups purged: dump " + dumpId
                    + " no longer exists (nothing was recorded)");
        }
        if (!h.active()) {
            throw CatalogRejection.conflict("database " + databaseId + " is deregistered (its backups are kept): no node runs its"
                    + " jobs, so dump " + dumpId + " is not restored by the engine (nothing was recorded). Download it and restore it"
                    + " with pg_restore: tidemark backup download " + databaseId + " " + dumpId + " --database " + (database == null
                    ? "NAME" : database));
        }
        if (database == null || targetDatabase == null) {
            throw new InvalidRequestException("a dump restore needs the dumped database and the name of an existing target database");
        }
        if (!PgConnections.isDatabaseName(targetDatabase)) {
            throw new InvalidRequestException("'" + targetDatabase + "' is not a PostgreSQL database name (1 to 63 bytes, no control"
                    + " characters)");
        }
        h.dump(dumpId).filter(d -> d.archives().stream().noneMatch(a -> a.database().equals(database))).ifPresent(d -> {
            throw new InvalidRequestException("dump " + dumpId + " holds no database '" + database + "'; it holds "
                    + d.archives().stream().map(DumpArchive::database).toList() + " (nothing was recorded)");
        });
        String role = h.pgUrl() == null ? "ROLE" : PgConnections.parse(h.pgUrl(), null).user();
        requireTargetDatabase(h, targetDatabase, role);
        if (!replace) {
            long objects = userRelations(h, targetDatabase);
            if (objects > 0) {
                throw CatalogRejection.conflict("database " + targetDatabase + " on the server of " + databaseId + " is not empty (" + objects
                        + " tables, views or sequences): the restore drops and re-creates every object the dump holds, and their"
                        + " data with them. Restore into an empty database (createdb -O " + role + " NAME), or ask again with"
                        + " replace (CLI: --replace) to overwrite (nothing was recorded)");
            }
        }
        String restoreId = node.newId("restore");
        node.catalog().send(new Commands.RequestRestore(databaseId, restoreId, KIND, null, false, null, null, false, dumpId, database,
                targetDatabase, null, node.clock().instant()), actor);
        return restoreId;
    }

    /**
     * A dump is restored into an existing database, with pg_restore --clean dropping and creating the dump's objects as
     * the role Tidemark connects as: a database that is missing, or that the role does not own (nor is a superuser for),
     * would fail late, so it is refused up front. So is a template (template0, template1, or one marked so): every database
     * created later is copied from it.
     */
    private void requireTargetDatabase(DatabaseHistory h, String database, String role) {
        try (Connection c = node.primary(h).open()) {
            Optional<ServerQueries.DatabaseOwnership> ownership = new ServerQueries(c).databaseOwnership(database);
            if (ownership.isEmpty()) {
                throw new InvalidRequestException("target database " + database + " does not exist on the server of " + h.id()
                        + ": create it first, owned by the role Tidemark connects as (createdb -O " + role + " NAME); a dump is"
                        + " restored into an existing database (nothing was recorded)");
            }
            if (ownership.get().template()) {
                throw new InvalidRequestException("database " + database + " is a template: every database created later is a copy"
                        + " of it, so a dump is never restored into it. Create a database for the dump (createdb -O " + role
                        + " NAME) and restore into that (nothing was recorded)");
            }
            if (!ownership.get().mayReplace()) {
                throw new InvalidRequestException("database " + database + " belongs to " + ownership.get().owner() + ", and the dump is"
                        + " restored as " + role + ", which may not replace its objects: restore into a database " + role
                        + " owns (createdb -O " + role + " NAME, or ALTER DATABASE ... OWNER TO " + role + ") (nothing was"
                        + " recorded)");
            }
        } catch (SQLException | IllegalArgumentException e) {
            throw new InvalidRequestException("cannot ask the server of " + h.id() + " who owns database " + database + ": "
                    + e.getMessage() + " (nothing was recorded)");
        }
    }

    /** The tables, views and sequences of a database outside the system schemas; refused when it cannot be asked now. */
    private long userRelations(DatabaseHistory h, String database) {
        try (Connection c = node.primary(h).withDatabase(database).open()) {
            return new ServerQueries(c).userRelations();
        } catch (SQLException | IllegalArgumentException e) {
            throw new InvalidRequestException("cannot look into database " + database + " on the server of " + h.id() + ": "
                    + e.getMessage() + " (nothing was recorded)");
        }
    }

    private void failInterrupted(DatabaseHistory db) {
        for (DatabaseHistory.Restore r : db.restores()) {
            if (KIND.equals(r.kind()) && r.status() == JobStatus.RUNNING) {
                String advice = " (its pg_restore, one transaction, may have run on without the engine: database "
                        + r.targetDatabase() + " then holds the whole dump or nothing of it; look before asking again, which"
                        + " needs replace if it holds anything)";
                node.sendQuietly(new Commands.FailRestore(db.id(), r.id(), Jobs.INTERRUPTED + advice, node.clock().instant()));
                LOG.warn("restore {} of {} was interrupted by an engine stop: marked failed", r.id(), db.id());
            }
        }
    }

    private void submit(String databaseId, String restoreId) {
        node.jobs().submit(databaseId, restoreId, () -> run(databaseId, restoreId));
    }

    private void run(String databaseId, String restoreId) {
        DatabaseHistory db = node.find(databaseId).orElseThrow();
        DatabaseHistory.Restore r = db.restore(restoreId).orElseThrow();
        if (!node.sendQuietly(new Commands.StartRestore(databaseId, restoreId, node.clock().instant()))) {
            return;
        }
        try {
            DumpRunner runner = new DumpRunner(node.repository(), binaries);
            node.progress().track(databaseId, restoreId, () -> BaseBackupViews.progress(new BackupProgress("pg_restore", 0, 0, 0, 0, 0)));
            DumpManifest manifest = runner.manifest(databaseId, r.dumpId());
            DumpManifest.Archive archive = manifest.archives().stream().filter(a -> a.database().equals(r.dumpDatabase())).findFirst()
                    .orElseThrow(() -> new IOException("dump " + r.dumpId() + " holds no archive of " + r.dumpDatabase()));
            runner.restore(archive, node.primary(db), r.targetDatabase());
            node.catalog().send(new Commands.CompleteRestore(databaseId, restoreId, null, null, null, null, null,
                    "restored dump " + r.dumpId() + " of " + r.dumpDatabase() + " into database " + r.targetDatabase(),
                    node.clock().instant()), node.worker());
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            if (node.jobs().stoppedByClose("restore", restoreId, databaseId)) {
                return;
            }
            String reason = Jobs.reason(e);
            LOG.warn("restore {} of {} failed: {}", restoreId, databaseId, reason);
            node.sendQuietly(new Commands.FailRestore(databaseId, restoreId, reason, node.clock().instant()));
        } finally {
            node.progress().done(databaseId, restoreId);
        }
    }
}
