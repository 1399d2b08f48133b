package dev.tidemark.engine.catalog;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.api.Commands.*;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DatabaseEvent.*;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.axonframework.commandhandling.CommandHandler;
import org.axonframework.eventsourcing.EventSourcingHandler;
import org.axonframework.eventhandling.SequenceNumber;
import org.axonframework.modelling.command.AggregateIdentifier;

import java.util.List;
import java.util.Set;

import static org.axonframework.modelling.command.AggregateLifecycle.apply;

/**
 * The aggregate of one protected database (id = database id). Command handlers validate and decide, then apply
 * events; the event-sourcing handler only folds an event into the state. No I/O here: times come with the commands.
 */
@JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
        isGetterVisibility = JsonAutoDetect.Visibility.NONE)
public class ProtectedDatabase {
    private static final Set<String> BACKUP_TRIGGERS = Set.of("manual", "scheduled", "after-restore", "tablespace");
    private static final Set<String> DUMP_TRIGGERS = Set.of("manual", "scheduled");

    @AggregateIdentifier
    private String id;
    private DatabaseHistory history = new DatabaseHistory();

    protected ProtectedDatabase() {
    }

    @CommandHandler
    public ProtectedDatabase(RegisterDatabase c) {
        RepositoryLayout.check("database id", c.databaseId(), RepositoryLayout.DATABASE_ID);
        if (c.pgUrl() == null || c.pgUrl().isBlank()) {
            throw CatalogRejection.invalid("pgUrl is required: postgresql://USER@HOST:PORT/DB of the primary");
        }
        if (c.pgdata() == null || c.pgdata().isBlank()) {
            throw CatalogRejection.invalid("pgdata is required: the data directory base backups read");
        }
        apply(new DatabaseRegistered(c.databaseId(), c.pgUrl(), c.pgdata(), c.standbyUrl(), c.policy(), c.at()));
    }

    @CommandHandler
    public void handle(AssignOwner c) {
        requireRegistered();
        if (c.node() == null || c.node().isBlank()) {
            throw CatalogRejection.invalid("an owner node name is required");
        }
        if (!c.node().equals(history.owner())) {
            apply(new OwnerAssigned(id, c.node(), c.at()));
        }
    }

    /** A lease takeover: the lease table decided it, so it is recorded as it came (no validation but registration). */
    @CommandHandler
    public void handle(RecordOwnerChange c) {
        requireRegistered();
        if (!c.to().equals(history.owner())) {
            apply(new DatabaseEvent.OwnerChanged(id, c.from(), c.to(), c.epoch(), c.reason(), c.at()));
        }
    }

    @CommandHandler
    public void handle(ChangeConnection c) {
        requireActive();
        if (c.pgUrl() == null || c.pgUrl().isBlank() || c.pgdata() == null || c.pgdata().isBlank()) {
            throw CatalogRejection.invalid("pgUrl and pgdata are required");
        }
        String busy = history.workUnderWayRefusal("change its connection");
        if (busy != null) {
            throw CatalogRejection.conflict(busy);
        }
        if (!c.pgUrl().equals(history.pgUrl()) || !c.pgdata().equals(history.pgdata())
                || !java.util.Objects.equals(c.standbyUrl(), history.standbyUrl())) {
            apply(new ConnectionChanged(id, c.pgUrl(), c.pgdata(), c.standbyUrl(), c.at()));
        }
    }

    @CommandHandler
    public void handle(ChangePolicy c) {
        requireActive();
        if (c.policy().equals(history.policy())) {
            return; // the policy it has already: nothing to record
        }
        apply(new PolicyChanged(id, c.policy(), c.at()));
    }

    @CommandHandler
    public String handle(RequestBaseBackup c) {
        requireActive();
        checkId("backup id", c.backupId());
        if (!BACKUP_TRIGGERS.contains(c.trigger())) {
            throw CatalogRejection.invalid("unknown base backup trigger '" + c.trigger() + "'");
        }
        history.runningBaseBackup().ifPresent(b -> {
            throw CatalogRejection.conflict("base backup " + b.id() + " of database " + id + " is " + b.status()
                    + "; one base backup runs at a time: wait for it (GET /v1/databases/" + id + "/base-backups/" + b.id() + ")");
        });
        if (history.baseBackup(c.backupId()).isPresent()) {
            throw CatalogRejection.conflict("base backup id " + c.backupId() + " is taken");
        }
        apply(new BaseBackupRequested(id, c.backupId(), c.trigger(), c.at()));
        return c.backupId();
    }

    @CommandHandler
    public void handle(StartBaseBackup c) {
        BaseBackup b = backup(c.backupId());
        if (b.status() != JobStatus.REQUESTED) {
            throw CatalogRejection.conflict("base backup " + b.id() + " is " + b.status() + ", not requested");
        }
        apply(new BaseBackupStarted(id, b.id(), c.node(), c.fromStandby(), c.at()));
    }

    @CommandHandler
    public void handle(CompleteBaseBackup c) {
        BaseBackup b = backup(c.backupId());
        if (b.status() != JobStatus.RUNNING) {
            throw CatalogRejection.conflict("base backup " + b.id() + " is " + b.status() + "; only a running backup can complete");
        }
        apply(new BaseBackupCompleted(id, b.id(), c.chain(), c.timeline(), c.startLsn(), c.startSegment(), c.stopLsn(), c.startTime(),
                c.consistencyTime(), c.bytes(), c.storedBytes(), c.manifestKey(), c.manifestSha256(), c.badPages(), c.at()));
    }

    @CommandHandler
    public void handle(FailBaseBackup c) {
        BaseBackup b = backup(c.backupId());
        if (!b.inProgress()) {
            throw CatalogRejection.conflict("base backup " + b.id() + " is " + b.status() + "; it cannot fail");
        }
        apply(new BaseBackupFailed(id, b.id(), c.reason(), c.at()));
    }

    /** WAL recorded already is a no-op (the stream resends after a restart). Returns whether anything was recorded. */
    @CommandHandler
    public boolean handle(RecordWal c) {
        requireRegistered();
        if (history.walRecorded(c.chain(), c.timeline(), c.firstSegment(), c.lastSegment(), c.endLsn())) {
            return false;
        }
        apply(new WalArchived(id, c.chain(), c.timeline(), c.firstSegment(), c.lastSegment(), c.firstByteTime(), c.lastByteTime(),
                c.bytes(), c.endLsn()));
        return true;
    }

    /**
     * Records the segments that are still recorded as archived (retention may have cut some since the check listed
     * them); returns those, so the caller reports only real losses.
     */
    @CommandHandler
    public List<String> handle(RecordWalMissing c) {
        requireRegistered();
        List<String> recorded = c.segments().stream()
                .filter(segment -> history.walRecorded(c.chain(), c.timeline(), segment, segment, "0/0")).toList();
        if (!recorded.isEmpty()) {
            apply(new WalMissing(id, c.chain(), c.timeline(), recorded, c.at()));
        }
        return recorded;
    }

    @CommandHandler
    public void handle(RecordWalConflict c) {
        requireRegistered();
        apply(new WalConflictDetected(id, c.chain(), c.segment(), c.existingSha256(), c.newSha256(), c.keptAs(), c.at()));
    }

    @CommandHandler
    public void handle(RecordSynchronousStall c) {
        requireRegistered();
        apply(new SynchronousWalStalled(id, c.waitedSeconds(), c.reason(), c.at()));
    }

    @CommandHandler
    public void handle(RecordSynchronousResume c) {
        requireRegistered();
        apply(new SynchronousWalResumed(id, c.waitedSeconds(), c.at()));
    }

    @CommandHandler
    public void handle(RecordTimelineSwitch c) {
        requireRegistered();
        if (history.timelineStart(c.chain(), c.toTimeline()).isPresent()) {
            return; // told again by a stream that reconnected: recorded once
        }
        apply(new TimelineSwitched(id, c.chain(), c.fromTimeline(), c.toTimeline(), c.switchLsn(), c.at()));
    }

    @CommandHandler
    public void handle(RecordChainChange c) {
        requireRegistered();
        if ("chain-changed".equals(history.status()) && c.actualChain().equals(history.changedToChain())) {
            return;
        }
        apply(new ChainChanged(id, c.expectedChain(), c.actualChain(), c.at()));
    }

    @CommandHandler
    public String handle(RequestDump c) {
        requireActive();
        checkId("dump id", c.dumpId());
        if (!DUMP_TRIGGERS.contains(c.trigger())) {
            throw CatalogRejection.invalid("unknown dump trigger '" + c.trigger() + "'");
        }
        for (String database : c.databases()) {
            if (!dev.tidemark.engine.postgres.PgConnections.isDatabaseName(database)) {
                throw CatalogRejection.invalid("'" + database + "' is not a PostgreSQL database name (1 to 63 bytes, no control"
                        + " characters)");
            }
        }
        history.runningDump().ifPresent(d -> {
            throw CatalogRejection.conflict("dump " + d.id() + " of database " + id + " is " + d.status()
                    + "; one dump runs at a time: ask again when it has finished");
        });
        if (history.dump(c.dumpId()).isPresent()) {
            throw CatalogRejection.conflict("dump id " + c.dumpId() + " is taken");
        }
        apply(new DumpRequested(id, c.dumpId(), List.copyOf(c.databases()), c.trigger(), c.at()));
        return c.dumpId();
    }

    @CommandHandler
    public void handle(StartDump c) {
        DatabaseHistory.Dump d = dump(c.dumpId());
        if (d.status() != JobStatus.REQUESTED) {
            throw CatalogRejection.conflict("dump " + d.id() + " is " + d.status() + ", not requested");
        }
        apply(new DumpStarted(id, d.id(), c.fromStandby(), c.at()));
    }

    @CommandHandler
    public void handle(CompleteDump c) {
        DatabaseHistory.Dump d = dump(c.dumpId());
        if (d.status() != JobStatus.RUNNING) {
            throw CatalogRejection.conflict("dump " + d.id() + " is " + d.status() + "; only a running dump can complete");
        }
        apply(new DumpCompleted(id, d.id(), List.copyOf(c.archives()), c.manifestKey(), c.at(), c.fromStandby()));
    }

    @CommandHandler
    public void handle(FailDump c) {
        DatabaseHistory.Dump d = dump(c.dumpId());
        if (!d.inProgress()) {
            throw CatalogRejection.conflict("dump " + d.id() + " is " + d.status() + "; it cannot fail");
        }
        apply(new DumpFailed(id, d.id(), c.reason(), c.at()));
    }

    @CommandHandler
    public String handle(RequestRestore c) {
        requireRegistered();
        checkId("restore id", c.restoreId());
        history.runningRestore().ifPresent(r -> {
            throw CatalogRejection.conflict("restore " + r.id() + " of database " + id + " is " + r.status()
                    + "; one restore runs at a time");
        });
        if (history.restore(c.restoreId()).isPresent()) {
            throw CatalogRejection.conflict("restore id " + c.restoreId() + " is taken");
        }
        if ("dump".equals(c.kind())) {
            DatabaseHistory.Dump d = dump(c.dumpId());
            if (d.status() != JobStatus.COMPLETED) {
                throw CatalogRejection.conflict("dump " + d.id() + " is " + d.status() + "; only a completed dump can be restored");
            }
            if (d.archives().stream().noneMatch(a -> a.database().equals(c.dumpDatabase()))) {
                throw CatalogRejection.invalid("dump " + d.id() + " holds no database '" + c.dumpDatabase() + "'; it holds "
                        + d.archives().stream().map(a -> a.database()).toList());
            }
            apply(new RestoreRequested(id, c.restoreId(), "dump", null, false, null, null, false, null, null, null, null, null,
                    d.id(), c.dumpDatabase(), c.targetDatabase(), c.at()));
            return c.restoreId();
        }
        if (!"pitr".equals(c.kind())) {
            throw CatalogRejection.invalid("unknown restore kind '" + c.kind() + "': pitr or dump");
        }
        if (c.targetTime() == null && !c.latest()) {
            throw CatalogRejection.invalid("a restore needs a target: a time (ISO-8601 with an offset) or latest");
        }
        // planned again on the aggregate's own state (restore/PointInTimeRequest says why)
        RestorePlan plan = RestorePlan.plan(history, c.latest() ? null : c.targetTime(), c.at(), c.live());
        BaseBackup b = plan.backup();
        apply(new RestoreRequested(id, c.restoreId(), "pitr", c.latest() ? null : plan.target(), c.latest(), c.targetDir(), c.port(),
                c.inPlace(), b.id(), b.manifestKey(), b.manifestSha256(), b.chain(), b.timeline(), null, null, null, c.at(),
                c.leaveStopped(), c.inPlace() && c.delta(), c.inPlace() && c.delta() && c.checksum()));
        return c.restoreId();
    }

    @CommandHandler
    public void handle(StartRestore c) {
        DatabaseHistory.Restore r = restore(c.restoreId());
        if (r.status() != JobStatus.REQUESTED) {
            throw CatalogRejection.conflict("restore " + r.id() + " is " + r.status() + ", not requested");
        }
        apply(new RestoreStarted(id, r.id(), c.at()));
    }

    @CommandHandler
    public void handle(CompleteRestore c) {
        DatabaseHistory.Restore r = restore(c.restoreId());
        if (r.status() != JobStatus.RUNNING) {
            throw CatalogRejection.conflict("restore " + r.id() + " is " + r.status() + "; only a running restore can complete");
        }
        apply(new RestoreCompleted(id, r.id(), c.reachedTime(), c.reachedLsn(), c.timeline(), c.dataDirectory(), c.port(), c.summary(),
                c.at()));
    }

    @CommandHandler
    public void handle(FailRestore c) {
        DatabaseHistory.Restore r = restore(c.restoreId());
        if (!r.inProgress()) {
            throw CatalogRejection.conflict("restore " + r.id() + " is " + r.status() + "; it cannot fail");
        }
        apply(new RestoreFailed(id, r.id(), c.reason(), c.at()));
    }

    @CommandHandler
    public void handle(ExpireBackups c) {
        requireRegistered();
        if (c.baseBackupIds().isEmpty() && c.dumpIds().isEmpty() && c.walCuts().isEmpty()) {
            return;
        }
        apply(new BackupsExpired(id, List.copyOf(c.baseBackupIds()), List.copyOf(c.dumpIds()), List.copyOf(c.walCuts()), c.at()));
    }

    @CommandHandler
    public void handle(DeregisterDatabase c) {
        requireRegistered();
        if ("deregistered".equals(history.status()) && !c.purge()) {
            // a deregistered database's backups can still be purged; deregistering again changes nothing
            throw CatalogRejection.conflict("database " + id + " is deregistered already (its backups are kept until retention "
                    + "removes them; purge=true deletes them now)");
        }
        if (history.purged()) {
            throw CatalogRejection.conflict("database " + id + " was deregistered and purged already: nothing is left to delete");
        }
        apply(new DatabaseDeregistered(id, c.purge(), c.at()));
    }

    @EventSourcingHandler
    public void on(DatabaseEvent event, @SequenceNumber long sequence) {
        id = event.databaseId();
        history.apply(event, sequence);
    }

    DatabaseHistory history() {
        return history;
    }

    private void requireRegistered() {
        if (!history.registered()) {
            throw CatalogRejection.notFound("database " + id + " is not registered");
        }
    }

    private void requireActive() {
        requireRegistered();
        if (!history.active()) {
            throw CatalogRejection.conflict("database " + id + " is " + history.status()
                    + ("chain-changed".equals(history.status())
                    ? ": its server is a different system now (re-initialised or upgraded); register it under a new id to protect it"
                    : "; register it again under a new id to protect it"));
        }
    }

    private BaseBackup backup(String backupId) {
        return history.baseBackup(backupId).orElseThrow(() -> CatalogRejection.notFound("database " + id + " has no base backup " + backupId));
    }

    private DatabaseHistory.Dump dump(String dumpId) {
        if (dumpId == null) {
            throw CatalogRejection.invalid("a dump id is required");
        }
        return history.dump(dumpId).orElseThrow(() -> CatalogRejection.notFound("database " + id + " has no dump " + dumpId));
    }

    private DatabaseHistory.Restore restore(String restoreId) {
        return history.restore(restoreId).orElseThrow(() -> CatalogRejection.notFound("database " + id + " has no restore " + restoreId));
    }

    private static void checkId(String what, String value) {
        if (value == null || !RepositoryLayout.OBJECT_ID.matcher(value).matches()) {
            throw CatalogRejection.invalid("invalid " + what + " '" + value + "': lower-case letters, digits and '-', at most 63");
        }
    }
}
