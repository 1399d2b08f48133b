package dev.tidemark.engine.dump;

import dev.tidemark.engine.basebackup.BaseBackupViews;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.node.Jobs;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.ServerQueries;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * Takes a requested dump on the node that owns the database (from the standby once it has caught up, else the
 * primary): started, run, and completed or failed in the catalog; one running when the engine stopped is failed at start.
 */
public final class DumpJob {
    private static final Logger LOG = LoggerFactory.getLogger(DumpJob.class);
    /** How long a dump waits for the standby to replay what the primary had written when the dump began. */
    static final Duration STANDBY_CATCH_UP = Duration.ofSeconds(60);

    private final Node node;
    private final PgBinaries binaries;

    /** Registers the job's event handler and start hooks with the node. */
    public DumpJob(Node node, PgBinaries binaries) {
        this.node = node;
        this.binaries = binaries;
        node.events().onOwned(DatabaseEvent.DumpRequested.class, e -> submit(e.databaseId(), e.dumpId()));
        node.events().onInterrupted(this::failInterrupted);
        node.events().onQueued(db -> db.dumps().stream().filter(d -> d.status() == JobStatus.REQUESTED)
                .forEach(d -> submit(db.id(), d.id())));
    }

    private void submit(String databaseId, String dumpId) {
        node.jobs().submit(databaseId, dumpId, () -> run(databaseId, dumpId));
    }

    private void failInterrupted(DatabaseHistory db) {
        for (DatabaseHistory.Dump d : db.dumps()) {
            if (d.status() == JobStatus.RUNNING) {
                new DumpRunner(node.repository(), binaries).removeQuietly(node.repository().layout().dumpPrefix(db.id(), d.id()));
                node.sendQuietly(new Commands.FailDump(db.id(), d.id(), Jobs.INTERRUPTED, node.clock().instant()));
                LOG.warn("dump {} of {} was interrupted (an engine stop, or its node lost the database): marked failed, its objects removed", d.id(), db.id());
            }
        }
    }

    /**
     * The standby a dump reads, once it has replayed all the primary had written when the dump began (so the dump holds
     * every transaction committed before it was taken); null when there is no standby, or it is paused or cannot catch
     * up within {@link #STANDBY_CATCH_UP}: the dump then reads the primary, and the log says why.
     */
    private PgConnections dumpSource(DatabaseHistory db, String dumpId) {
        if (db.standbyUrl() == null || db.standbyUrl().isBlank()) {
            return null;
        }
        PgConnections standby = node.credentials().server(db.id(), db.standbyUrl());
        String primaryLsn;
        try (Connection c = node.primary(db).open()) {
            primaryLsn = new ServerQueries(c).currentWalLsn();
        } catch (SQLException e) {
            LOG.info("dump {} of {}: the primary cannot be asked how far it is ({}); the dump reads the standby as it is", dumpId,
                    db.id(), e.getMessage());
            return standby;
        }
        long deadline = System.nanoTime() + STANDBY_CATCH_UP.toNanos();
        String why;
        try (Connection c = standby.open()) {
            ServerQueries queries = new ServerQueries(c);
            while (true) {
                ServerQueries.StandbyReplay replay = queries.standbyReplay(primaryLsn);
                if (!replay.inRecovery()) {
                    return standby; // promoted meanwhile: it is as current as it gets
                }
                if (replay.caughtUp()) {
                    return standby;
                }
                if (replay.paused()) {
                    why = "its WAL replay is paused (pg_wal_replay_pause) at " + replay.replayLsn();
                    break;
                }
                if (System.nanoTime() > deadline) {
                    why = "it had replayed up to " + replay.replayLsn() + " after " + STANDBY_CATCH_UP.toSeconds()
                            + " s, short of the primary's " + primaryLsn + " (its last replayed transaction is " + replay.lastReplayAge()
                            + " old)";
                    break;
                }
                Thread.sleep(200);
            }
        } catch (SQLException e) {
            why = "it cannot be asked how far it has replayed (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            why = "interrupted while waiting for it";
        }
        LOG.warn("dump {} of {}: read from the primary, not the standby: {}; a dump of the standby would miss transactions committed"
                + " before the dump began", dumpId, db.id(), why);
        return null;
    }

    private void run(String databaseId, String dumpId) {
        DatabaseHistory db = node.find(databaseId).orElseThrow();
        PgConnections dumpSource = dumpSource(db, dumpId);
        boolean fromStandby = dumpSource != null;
        if (!fromStandby) {
            dumpSource = node.primary(db);
        }
        if (!node.sendQuietly(new Commands.StartDump(databaseId, dumpId, fromStandby, node.clock().instant()))) {
            return;
        }
        List<String> databases = db.dump(dumpId).map(DatabaseHistory.Dump::databases).orElse(List.of());
        DumpRunner runner = new DumpRunner(node.writableRepository(databaseId, dumpId), binaries); // issue 20: fenced
        Instant started = node.clock().instant();
        node.progress().track(databaseId, dumpId, () -> BaseBackupViews.progress(runner.progress()));
        LOG.info("dump {} of {} started ({}, from the {})", dumpId, databaseId, databases.isEmpty() ? "all databases" : databases,
                fromStandby ? "standby" : "primary");
        long conflictsBefore = fromStandby ? recoveryConflicts(dumpSource) : -1;
        String readFrom = fromStandby ? "standby" : "primary";
        try {
            DumpManifest manifest;
            try {
                manifest = runner.dump(databaseId, dumpId, dumpSource, databases);
            } catch (IOException e) {
                // cancelled ("canceling statement due to conflict with recovery") or, for a lock conflict, its session
                // ended ("server closed the connection"): the standby's own conflict counters tell
                if (!fromStandby || !String.valueOf(e.getMessage()).contains("conflict with recovery")
                        && recoveryConflicts(dumpSource) <= conflictsBefore) {
                    throw e;
                }
                // the standby cancelled the dump's queries to replay the primary's changes (max_standby_streaming_delay
                // shorter than the dump, no hot_standby_feedback): the primary answers without such conflicts
                LOG.warn("dump {} of {}: the standby cancelled it (conflict with recovery: raise max_standby_streaming_delay or turn"
                        + " on hot_standby_feedback there, see docs/operations.md); dumping from the primary instead", dumpId, databaseId);
                runner.removeQuietly(node.repository().layout().dumpPrefix(databaseId, dumpId));
                readFrom = "primary";
                manifest = runner.dump(databaseId, dumpId, node.primary(db), databases);
            }
            List<DumpArchive> archives = manifest.archives().stream()
                    .map(a -> new DumpArchive(a.database(), a.key(), a.sha256(), a.bytes(), a.storedBytes())).toList();
            node.catalog().send(new Commands.CompleteDump(databaseId, dumpId, archives, node.repository().layout().dumpObject(databaseId, dumpId),
                    node.clock().instant(), readFrom.equals("standby")), node.worker());
            LOG.info("dump {} of {} completed: {} databases read from the {}, {} MiB in {} s", dumpId, databaseId, archives.size(),
                    readFrom, manifest.totalBytes() >> 20, Duration.between(started, node.clock().instant()).toSeconds());
        } catch (Exception e) {
            if (node.jobs().stoppedByClose("dump", dumpId, databaseId)) {
                return;
            }
            String reason = Jobs.reason(e);
            LOG.warn("dump {} of {} failed: {}", dumpId, databaseId, reason);
            // the failure first: see BaseBackupJob
            if (node.sendQuietly(new Commands.FailDump(databaseId, dumpId, reason, node.clock().instant()))) {
                runner.removeQuietly(node.repository().layout().dumpPrefix(databaseId, dumpId));
            } else {
                LOG.warn("dump {} of {}: the catalog did not record its failure, so its objects are kept", dumpId, databaseId);
            }
        } finally {
            node.progress().done(databaseId, dumpId);
        }
    }

    /** The recovery conflicts a standby counted so far (all databases), or -1 when it cannot be asked. */
    private static long recoveryConflicts(PgConnections standby) {
        try (Connection c = standby.open()) {
            return new ServerQueries(c).recoveryConflicts();
        } catch (SQLException e) {
            return -1;
        }
    }
}
