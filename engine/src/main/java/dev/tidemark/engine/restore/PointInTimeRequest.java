package dev.tidemark.engine.restore;

import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.RestorePlan;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.wal.Streams;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;

/**
 * A point-in-time restore asked for: the request checked in one place (its shape, the target directory and port
 * against every other restore and guarded directory, the target against the recovery window, and the runner's own
 * checks of the target), then recorded; the catalog's aggregate holds the window rule again.
 * <p>
 * The plan ({@link RestorePlan}: which base backup serves the target) is made here and again by the aggregate, by the
 * same function over the same live WAL and instant. Both stay: the runner's checks need the plan's backup (its size
 * against the free space) before anything is recorded, and the aggregate decides on its own state under its lock. The
 * view read here can be overtaken before the command arrives (a backup expired or completed, WAL recorded by another
 * node), and the aggregate takes RequestRestore from other senders too; a plan carried in the command would either be
 * recorded stale or have to be made again to be checked.
 */
public final class PointInTimeRequest {
    private final Node node;
    private final Streams streams;
    private final RestoreJob job;
    private final OverlapGuard guard;

    /** repositoryUri: a file repository's directory is guarded like a data directory. */
    public PointInTimeRequest(Node node, Streams streams, RestoreJob job, String repositoryUri) {
        this.node = node;
        this.streams = streams;
        this.job = job;
        this.guard = new OverlapGuard(node, repositoryUri);
    }

    /** Checks and records the restore; returns its id. One request at a time: two asked at once must each see the other's target. */
    public synchronized String ask(String databaseId, RestoreRequest request, String actor) {
        if (node.history(databaseId).purged()) {
            throw new InvalidRequestException("database " + databaseId + " was deregistered with its backups and WAL purged:"
                    + " nothing of it can be restored");
        }
        if (!node.history(databaseId).active()) {
            // its jobs run on the node holding its lease, and a deregistered database has none: such a request would stay
            // requested for good and hold the database (a purge among what it holds back)
            throw CatalogRejection.conflict("database " + databaseId + " is deregistered (its backups are kept): no node runs its"
                    + " jobs, so it is not restored (nothing was recorded). Its base backups and dumps can still be downloaded"
                    + " (tidemark backup download " + databaseId + " ID; a base backup's archive starts as a data directory of its"
                    + " own), or removed with tidemark db remove " + databaseId + " --purge");
        }
        RecoveryTarget target = target(request);
        if (request.inPlace() && (request.targetDir() != null || request.port() != null)) {
            throw new InvalidRequestException("an in-place restore uses the database's own directory and port: leave targetDir and port out");
        }
        if (!request.inPlace() && (request.targetDir() == null || request.port() == null)) {
            throw new InvalidRequestException("a restore needs a new data directory (targetDir, absolute) and a port, or inPlace = true");
        }
        if (!request.inPlace() && Boolean.TRUE.equals(request.leaveStopped())) {
            throw new InvalidRequestException("leaveStopped is for a restore in place (the database's own server, left for its service"
                    + " manager to start); a copy beside is started by the restore: leave leaveStopped out");
        }
        if (!request.inPlace() && (Boolean.TRUE.equals(request.delta()) || Boolean.TRUE.equals(request.checksum()))) {
            throw new InvalidRequestException("delta and checksum are for a restore in place (the database's own directory, restored"
                    + " where it is); a copy beside is written whole: leave them out");
        }
        if (Boolean.TRUE.equals(request.checksum()) && !Boolean.TRUE.equals(request.delta())) {
            throw new InvalidRequestException("checksum goes with delta (a restore in place without a copy): the default in-place"
                    + " restore checks every file it keeps by SHA-256 already");
        }
        if (!request.inPlace() && !Path.of(request.targetDir()).isAbsolute()) {
            throw new InvalidRequestException("targetDir must be an absolute path, not '" + request.targetDir() + "'");
        }
        if (!request.inPlace()) {
            guard.refuseOverlap(Path.of(request.targetDir()), request.port());
        } else if (request.port() == null && node.catalog().view().databases().stream().flatMap(d -> d.restores().stream())
                .anyMatch(r -> r.inProgress() && !r.inPlace() && r.port() != null
                        && r.port().equals(OverlapGuard.primaryPort(node.history(databaseId))))) {
            throw CatalogRejection.conflict("a running restore uses port " + OverlapGuard.primaryPort(node.history(databaseId))
                    + ", the port " + databaseId + " is restored in place on: wait for it to end");
        } else if (node.history(databaseId).standbyUrl() != null) {
            throw new InvalidRequestException("an in-place restore replaces pgdata, which is the standby's data directory here (base"
                    + " backups are read from the standby): restore beside it (targetDir and port), or first point the database at"
                    + " the primary's data directory without the standby (tidemark db connection " + databaseId
                    + " --pgdata PRIMARY_DATA_DIR --no-standby; stop the primary before the restore, and rebuild the standby after it)");
        }
        streams.flush(databaseId);
        DatabaseHistory h = node.history(databaseId);
        Instant now = node.clock().instant();
        Commands.LiveWal live = streams.live(databaseId);
        RestorePlan plan = RestorePlan.plan(h, target.time().orElse(null), now, live);
        String restoreId = node.newId("restore");
        try {
            job.runner(h).check(job.runnerRequest(h, restoreId, plan.backup().id(), plan.backup().manifestSha256(), target,
                    request.targetDir(), request.port(), request.inPlace(), Boolean.TRUE.equals(request.leaveStopped()),
                    Boolean.TRUE.equals(request.delta()), Boolean.TRUE.equals(request.checksum())));
        } catch (IOException e) {
            throw new InvalidRequestException("restore refused before anything was written: " + e.getMessage());
        }
        node.catalog().send(new Commands.RequestRestore(databaseId, restoreId, RestoreJob.KIND, target.time().orElse(null),
                target instanceof RecoveryTarget.Latest, request.targetDir(), request.port(), request.inPlace(), null, null, null, live,
                now, Boolean.TRUE.equals(request.leaveStopped()), Boolean.TRUE.equals(request.delta()),
                Boolean.TRUE.equals(request.checksum())), actor);
        return restoreId;
    }

    /** Exactly one of the body's two target fields. */
    private static RecoveryTarget target(RestoreRequest request) {
        if (request == null || (request.time() == null) == !request.latest()) {
            throw new InvalidRequestException("give exactly one restore target: time (ISO-8601 with an offset, e.g. "
                    + "2026-11-24T10:41:07+01:00) or latest = true");
        }
        return request.latest() ? new RecoveryTarget.Latest() : new RecoveryTarget.Time(request.time().toInstant());
    }
}
