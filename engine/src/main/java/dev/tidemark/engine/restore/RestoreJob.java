package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BaseBackupViews;
import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.node.Jobs;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.wal.Streams;
import dev.tidemark.engine.wal.WalStreamSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs a requested point-in-time restore on the node that owns the database ({@link RestoreRunner} does the work),
 * cancels one, and at start fails one the engine's stop interrupted, stopping the PostgreSQL it had started.
 */
public final class RestoreJob {
    private static final Logger LOG = LoggerFactory.getLogger(RestoreJob.class);
    static final String KIND = "pitr";

    private final Node node;
    private final Streams streams;
    private final PgBinaries binaries;
    private final PgServer.Factory servers;
    private final List<Path> restoreRoots;
    /** Restores running on this node, and those asked to be cancelled (by whom), by database/restore id. */
    private final Map<String, RestoreRunner> running = new ConcurrentHashMap<>();
    private final Map<String, String> cancelled = new ConcurrentHashMap<>();

    /** Registers the job's event handler and start hooks with the node. restoreRoots: empty, or where a copy may go. */
    public RestoreJob(Node node, Streams streams, PgBinaries binaries, PgServer.Factory servers, List<Path> restoreRoots) {
        this.node = node;
        this.streams = streams;
        this.binaries = binaries;
        this.servers = servers;
        this.restoreRoots = restoreRoots;
        node.events().onOwned(DatabaseEvent.RestoreRequested.class, e -> {
            if (KIND.equals(e.kind())) {
                submit(e.databaseId(), e.restoreId());
            }
        });
        node.events().onInterrupted(this::failInterrupted);
        node.events().onQueued(db -> db.restores().stream().filter(r -> KIND.equals(r.kind()) && r.status() == JobStatus.REQUESTED)
                .forEach(r -> submit(db.id(), r.id())));
    }

    private void submit(String databaseId, String restoreId) {
        node.jobs().submit(databaseId, restoreId, () -> run(databaseId, restoreId));
    }

    /** The runner's request a restore record describes (also used to check one before it is recorded). */
    RestoreRunner.Request runnerRequest(DatabaseHistory db, String restoreId, String backupId, String manifestSha256, RecoveryTarget target,
                                        String targetDir, Integer port, boolean inPlace, boolean leaveStopped, boolean delta,
                                        boolean checksum) {
        PgConnections primary = node.primary(db);
        Path directory = Path.of(inPlace ? db.pgdata() : targetDir);
        int restorePort = inPlace ? primary.port() : port;
        return new RestoreRunner.Request(db.id(), restoreId, backupId, manifestSha256, target.time(), directory,
                restorePort, inPlace, primary.user(), node.workers(), Duration.ofMinutes(30), primary.password(),
                leaveStopped ? RestoreRunner.AfterRecovery.STOPPED : RestoreRunner.AfterRecovery.RUNNING,
                !delta ? RestoreRunner.InPlaceMode.MOVE_ASIDE : checksum ? RestoreRunner.InPlaceMode.DELTA_CHECKSUM
                        : RestoreRunner.InPlaceMode.DELTA)
                // the stream (started again once the restore ends) reads the new timeline from its branch: its slot holds that
                // WAL from the end of the recovery on, which the first checkpoint would otherwise recycle before it is back
                .withStreamSlot(db.active() ? WalStreamSettings.defaults(db.id()).slotName() : null);
    }

    /**
     * A restore of db: its server runs as the owner of db's data directory (as root; PostgreSQL never runs as root), so
     * a copy can use what the original can, and an in-place restore leaves the directory to the user it belonged to.
     */
    RestoreRunner runner(DatabaseHistory db) {
        return new RestoreRunner(node.repository(), serversOwning(Path.of(db.pgdata())), restoreRoots);
    }

    /** Servers run as the owner of directory (the engine's default server user when that cannot be told). */
    private PgServer.Factory serversOwning(Path directory) {
        return PgServer.factory(binaries, ServerUser.owning(directory, servers.at(directory).user()));
    }

    private void run(String databaseId, String restoreId) {
        DatabaseHistory db = node.find(databaseId).orElseThrow();
        DatabaseHistory.Restore r = db.restore(restoreId).orElseThrow();
        if (!node.sendQuietly(new Commands.StartRestore(databaseId, restoreId, node.clock().instant()))) {
            return;
        }
        String key = databaseId + "/" + restoreId;
        try {
            RestoreRunner runner = runner(db);
            running.put(key, runner);
            if (cancelled.containsKey(key)) { // cancelled while it waited for its turn
                runner.cancel(cancelled.get(key));
            }
            node.progress().track(databaseId, restoreId, () -> BaseBackupViews.progress(runner.progress()));
            RecoveryTarget target = RecoveryTarget.of(r);
            RestoreRunner.Request request = runnerRequest(db, restoreId, r.backupId(), r.manifestSha256(), target, r.targetDir(), r.port(),
                    r.inPlace(), r.leaveStopped(), r.delta(), r.checksum());
            LOG.info("restore {} of {} started: {} into {} (port {})", restoreId, databaseId, target, request.targetDirectory(),
                    request.port());
            RestoreRunner.Result result;
            if (r.inPlace()) {
                // no stream to the server while it is restored: one connected during its recovery would follow the old
                // timeline until its next sample; started again below, it meets the promoted server
                streams.stop(databaseId);
            }
            try {
                result = runner.run(request);
            } finally {
                if (r.inPlace()) {
                    node.find(databaseId).filter(DatabaseHistory::active).ifPresent(streams::start);
                }
            }
            node.catalog().send(new Commands.CompleteRestore(databaseId, restoreId, result.reachedTime(), result.reachedLsn(),
                    result.timeline(), result.dataDirectory().toString(), result.port(), result.summary(), node.clock().instant()),
                    node.worker());
            // left stopped, the server is not there to be backed up: the scheduler asks once it accepts connections
            // again (ScheduledTick.firstBackupOfANewTimeline)
            if (r.inPlace() && !r.leaveStopped()) {
                try {
                    node.catalog().send(new Commands.RequestBaseBackup(databaseId, node.newId("base"), "after-restore",
                            node.clock().instant()), node.worker());
                } catch (CatalogRejection e) {
                    LOG.warn("could not ask for the base backup after the in-place restore of {}: {}", databaseId, e.getMessage());
                }
            }
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            if (node.jobs().stoppedByClose("restore", restoreId, databaseId)) {
                return;
            }
            String by = cancelled.get(key);
            // in place, where the original data directory is now and how it was left
            Optional<String> undone = Optional.ofNullable(running.get(key)).flatMap(RestoreRunner::undone);
            String reason = by != null ? "cancelled by " + by + " (" + undone.orElse(r.inPlace() ? "the old data directory is back in place"
                    : "nothing of the copy was kept") + ")" : Jobs.reason(e) + undone.map(u -> "; " + u).orElse("");
            LOG.warn("restore {} of {} failed: {}", restoreId, databaseId, reason);
            node.sendQuietly(new Commands.FailRestore(databaseId, restoreId, reason, node.clock().instant()));
        } finally {
            node.progress().done(databaseId, restoreId);
            running.remove(key);
            cancelled.remove(key);
        }
    }

    /**
     * Cancels a restore of a database this node owns (running, or waiting for its turn); false when it is another
     * node's to run.
     */
    boolean cancel(String databaseId, String restoreId, String actor) {
        if (!node.owned(databaseId)) {
            return false;
        }
        String key = databaseId + "/" + restoreId;
        cancelled.put(key, actor);
        RestoreRunner runner = running.get(key);
        if (runner != null) {
            runner.cancel(actor);
        }
        return true;
    }

    private void failInterrupted(DatabaseHistory db) {
        for (DatabaseHistory.Restore r : db.restores()) {
            if (KIND.equals(r.kind()) && r.status() == JobStatus.RUNNING) {
                Path dir = r.inPlace() ? Path.of(db.pgdata()) : r.targetDir() == null ? null : Path.of(r.targetDir());
                String stopped = dir == null ? "" : stopRestoredServer(dir, r.id());
                if (r.inPlace() && r.delta()) {
                    try {
                        DeltaInPlace.disable(dir); // no server is to start the partial state
                    } catch (IOException e) {
                        LOG.warn("restore {}: could not remove {}/global/pg_control: {}", r.id(), dir, e.getMessage());
                    }
                }
                String advice = r.inPlace() && r.delta()
                        ? " (" + db.pgdata() + " was being restored where it is, without a copy" + stopped + ": it is not startable as it"
                        + " was; restore it again from the repository, e.g. tidemark restore " + db.id() + " --latest --in-place --delta)"
                        : r.inPlace()
                        ? " (" + db.pgdata() + " may hold a partial copy" + stopped + ": the previous data directory is beside it as "
                        + movedAside(Path.of(db.pgdata())) + "; delete the partial copy and move it back)"
                        : r.targetDir() != null ? " (the target directory " + r.targetDir() + " may hold a partial copy" + stopped
                        + ": delete it)" : "";
                node.sendQuietly(new Commands.FailRestore(db.id(), r.id(), Jobs.INTERRUPTED + advice, node.clock().instant()));
                LOG.warn("restore {} of {} was interrupted by an engine stop: marked failed", r.id(), db.id());
            }
        }
    }

    /**
     * Stops the PostgreSQL an interrupted restore started on dir (recognised by the restore's own lines in its
     * postgresql.auto.conf): left alone it would serve a partial state, on the production port after an in-place
     * restore. Returns a note for the failure message.
     */
    private String stopRestoredServer(Path dir, String restoreId) {
        try {
            // its WAL spool goes first (it claims the directory, and a recovery in restore_command is told to abort)
            RestoreRunner.abandonSpool(dir);
            Path auto = dir.resolve("postgresql.auto.conf");
            if (!Files.isReadable(auto) || !Files.readString(auto).contains("Tidemark restore " + restoreId + " ")) {
                return "";
            }
            PgServer server = serversOwning(dir).at(dir);
            if (!server.isRunning()) {
                return "";
            }
            server.stopImmediately();
            LOG.warn("restore {}: stopped the PostgreSQL it had started on {} (partial state)", restoreId, dir);
            return "; the PostgreSQL the restore had started on it was stopped";
        } catch (IOException | RuntimeException e) {
            LOG.warn("restore {}: could not check or stop a PostgreSQL left running on {}: {}", restoreId, dir, e.getMessage());
            return "; a PostgreSQL the restore started may still run on it: stop it first";
        }
    }

    /** The directories an in-place restore moved the data directory to, newest first, or the pattern when none is found. */
    private static String movedAside(Path pgdata) {
        String prefix = pgdata.getFileName() + ".tidemark-moved-";
        try (var siblings = Files.list(pgdata.toAbsolutePath().getParent())) {
            List<String> found = siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix))
                    .sorted(Comparator.reverseOrder()).toList();
            if (!found.isEmpty()) {
                return pgdata.resolveSibling(found.get(0)) + (found.size() > 1 ? " (the newest of " + found.size() + " such directories)" : "");
            }
        } catch (IOException | RuntimeException e) {
            // fall through to the pattern
        }
        return prefix + "<time>";
    }
}
