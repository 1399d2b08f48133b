package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.node.Jobs;
import dev.tidemark.engine.operations.BaseBackupDownload;
import dev.tidemark.engine.operations.ConflictException;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicLong;

/** A completed base backup as a startable tar archive, its WAL to consistency included, checked before it is offered. */
public final class BaseBackupDownloads {
    private static final Logger LOG = LoggerFactory.getLogger(BaseBackupDownloads.class);

    private final Repository repository;

    public BaseBackupDownloads(Repository repository) {
        this.repository = repository;
    }

    public BaseBackupDownload open(DatabaseHistory db, String backupId) throws IOException {
        DatabaseHistory.BaseBackup backup = db.baseBackup(backupId)
                .orElseThrow(() -> new NotFoundException("database " + db.id() + " has no base backup " + backupId));
        if (db.purged()) {
            throw new ConflictException("database " + db.id() + " was deregistered with its backups"
                    + " purged: base backup " + backupId + " no longer exists");
        }
        if (backup.status() != JobStatus.COMPLETED) {
            throw new ConflictException("base backup " + backupId + " is " + backup.status()
                    + "; only a completed base backup can be downloaded");
        }
        BackupManifest manifest;
        try (InputStream in = repository.openDecoded(backup.manifestKey(), backup.manifestSha256())) {
            manifest = BackupManifest.fromJson(in, backup.manifestKey());
        }
        BackupArchive archive = new BackupArchive(repository);
        BackupArchive.Wal wal = archive.wal(manifest).orElseThrow(() -> new ConflictException(
                "base backup " + backupId + " cannot be made whole: WAL between its start " + manifest.startLsn() + " and its stop "
                        + manifest.stopLsn() + " is missing from the repository; download a dump or another base backup"));
        for (BackupManifest.BundleObject o : manifest.objects()) { // before the answer starts: a missing one is a clear 409
            if (repository.store().stat(o.key()).isEmpty()) {
                throw new ConflictException("object " + o.key() + " of base backup " + backupId
                        + " is missing from the repository: it was deleted outside Tidemark; download another base backup");
            }
        }
        long approximate = BackupArchive.approximateBytes(manifest, wal);
        return new BaseBackupDownload(db.id() + "-" + backupId + ".tar", approximate, manifest.configurationOutside(), out -> {
            long started = System.nanoTime();
            AtomicLong sent = new AtomicLong();
            LOG.info("download of base backup {} of {} started (about {} MiB of files and WAL)", backupId, db.id(), approximate >> 20);
            try {
                archive.write(manifest, wal, out, sent::addAndGet);
            } catch (IOException | RuntimeException e) {
                LOG.warn("download of base backup {} of {} stopped after {} MiB: {}", backupId, db.id(), sent.get() >> 20, Jobs.reason(e));
                throw e;
            }
            LOG.info("download of base backup {} of {} finished: {} MiB in {} s", backupId, db.id(), sent.get() >> 20,
                    String.format("%.1f", (System.nanoTime() - started) / 1e9));
        });
    }
}
