package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.node.Jobs;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Takes a requested base backup on the node that owns the database: started, run, and completed or failed in the
 * catalog. One that was running when the engine stopped is failed at start, its objects removed.
 */
public final class BaseBackupJob {
    private static final Logger LOG = LoggerFactory.getLogger(BaseBackupJob.class);
    /**
     * The backup an in-place restore asks for starts this long after it was asked: the restore's answer goes first. Its
     * workers take both cores of a small machine, and the client waiting for the restore (its last poll, its exit) took
     * 0.3-0.4 s longer beside them (docs/benchmarks.md).
     */
    static final Duration AFTER_RESTORE_PAUSE = Duration.ofSeconds(1);

    private final Node node;
    private final StreamedWal wal;
    private final Repository repository;
    private final FileChecksum fileChecksum;

    /** Registers the job's event handler and start hooks with the node; a wrong file checksum setting stops the start. */
    public BaseBackupJob(Node node, StreamedWal wal) {
        this.node = node;
        this.wal = wal;
        this.repository = node.repository();
        this.fileChecksum = FileChecksum.configured(repository);
        node.events().onOwned(DatabaseEvent.BaseBackupRequested.class, e -> submit(e.databaseId(), e.backupId()));
        node.events().onInterrupted(this::failInterrupted);
        node.events().onQueued(db -> db.baseBackups().stream().filter(b -> b.status() == JobStatus.REQUESTED)
                .forEach(b -> submit(db.id(), b.id())));
    }

    private void submit(String databaseId, String backupId) {
        node.jobs().submit(databaseId, backupId, () -> run(databaseId, backupId));
    }

    private void failInterrupted(DatabaseHistory db) {
        for (DatabaseHistory.BaseBackup b : db.baseBackups()) {
            if (b.status() == JobStatus.RUNNING) {
                new BaseBackupRunner(repository, BaseBackupRunner.Settings.defaults())
                        .removeQuietly(repository.layout().baseBackupPrefix(db.id(), b.id()));
                node.sendQuietly(new Commands.FailBaseBackup(db.id(), b.id(), Jobs.INTERRUPTED, node.clock().instant()));
                LOG.warn("base backup {} of {} was interrupted (an engine stop, or its node lost the database): marked failed, its objects removed", b.id(), db.id());
            }
        }
    }

    /** The server base backups read: the standby when one is registered. */
    private PgConnections source(DatabaseHistory db) {
        return db.standbyUrl() == null || db.standbyUrl().isBlank() ? node.primary(db)
                : node.credentials().server(db.id(), db.standbyUrl());
    }

    private void run(String databaseId, String backupId) {
        Duration pause = node.find(databaseId).flatMap(h -> h.baseBackup(backupId))
                .filter(b -> "after-restore".equals(b.trigger()) && b.requestedAt() != null)
                .map(b -> Duration.between(node.clock().instant(), b.requestedAt().plus(AFTER_RESTORE_PAUSE))).orElse(Duration.ZERO);
        if (pause.isPositive()) {
            try {
                Thread.sleep(pause.compareTo(AFTER_RESTORE_PAUSE) > 0 ? AFTER_RESTORE_PAUSE : pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // cancelled before it started: it stays requested, as a queued job does
                return;
            }
        }
        DatabaseHistory db = node.find(databaseId).orElseThrow();
        boolean fromStandby = db.standbyUrl() != null && !db.standbyUrl().isBlank();
        if (!node.sendQuietly(new Commands.StartBaseBackup(databaseId, backupId, node.id(), fromStandby, node.clock().instant()))) {
            return;
        }
        // issue 20: written through a store that refuses writes once this node lost the database's lease
        BaseBackupRunner runner = new BaseBackupRunner(node.writableRepository(databaseId, backupId),
                BaseBackupRunner.Settings.defaults().withWorkers(node.workers()).withFileChecksum(fileChecksum));
        node.progress().track(databaseId, backupId, () -> BaseBackupViews.progress(runner.progress()));
        LOG.info("base backup {} of {} started (from the {})", backupId, databaseId, fromStandby ? "standby" : "primary");
        try {
            BaseBackupRunner.Result result = runner.run(databaseId, backupId, source(db), Path.of(db.pgdata()), wal.durableWal(databaseId));
            BackupManifest m = result.manifest();
            wal.awaitDurableTime(databaseId, m.consistencyTime(), Duration.ofSeconds(30));
            wal.flush(databaseId);
            String startSegment = WalSegment.containing(m.timeline(), Lsn.parse(m.startLsn()), m.walSegmentSize()).name();
            node.catalog().send(new Commands.CompleteBaseBackup(databaseId, backupId, m.chain(), m.timeline(), m.startLsn(), startSegment,
                    m.stopLsn(), m.startTime(), m.consistencyTime(), m.totalBytes(), result.storedBytes(), result.manifestKey(),
                    result.manifestSha256(), m.badPages().size(), node.clock().instant()), node.worker());
            LOG.info("base backup {} of {} completed: {} MiB ({} MiB stored), consistent at {}{}", backupId, databaseId,
                    m.totalBytes() >> 20, result.storedBytes() >> 20, m.consistencyTime(),
                    m.badPages().isEmpty() ? "" : ", " + m.badPages().size() + " BAD PAGES (see the manifest)");
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            if (node.jobs().stoppedByClose("base backup", backupId, databaseId)) {
                return;
            }
            String reason = Jobs.reason(e);
            LOG.warn("base backup {} of {} failed: {}", backupId, databaseId, reason);
            // the failure is recorded first, and only a backup the catalog now lists as failed loses its objects: a
            // completion that committed although its sender saw an error (a shared catalog's connection dropped) makes
            // the catalog refuse the failure, and the completed backup keeps what it lists
            if (node.sendQuietly(new Commands.FailBaseBackup(databaseId, backupId, reason, node.clock().instant()))) {
                runner.removeQuietly(repository.layout().baseBackupPrefix(databaseId, backupId));
            } else {
                LOG.warn("base backup {} of {}: the catalog did not record its failure, so its objects are kept", backupId, databaseId);
            }
        } finally {
            node.progress().done(databaseId, backupId);
        }
    }
}
