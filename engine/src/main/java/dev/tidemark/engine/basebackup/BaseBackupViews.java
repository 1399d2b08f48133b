package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.node.ReadModel;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.operations.Progress;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** What the base backups of a database look like to the API: from the read model, with the progress of running ones. */
public final class BaseBackupViews {
    private final Node node;

    public BaseBackupViews(Node node) {
        this.node = node;
    }

    public List<BackupView> list(String databaseId) {
        DatabaseHistory h = node.history(databaseId);
        List<DatabaseHistory.BaseBackup> listed = node.readModel().rows(h).map(r -> r.baseBackups(databaseId)).orElseGet(() -> h.baseBackups()
                .stream().sorted(Comparator.comparing(DatabaseHistory.BaseBackup::requestedAt).reversed()).toList());
        return listed.stream().map(b -> view(h, b)).toList();
    }

    public BackupView get(String databaseId, String backupId) {
        return list(databaseId).stream().filter(b -> b.id().equals(backupId)).findFirst()
                .orElseThrow(() -> new NotFoundException("database " + databaseId + " has no base backup '" + backupId + "'"));
    }

    /** The newest completed base backup, for the database's own view. */
    public Optional<BackupView> lastCompleted(DatabaseHistory h) {
        return h.baseBackups().stream().filter(b -> b.status() == JobStatus.COMPLETED)
                .max(Comparator.comparing(DatabaseHistory.BaseBackup::completedAt)).map(b -> view(h, b));
    }

    private BackupView view(DatabaseHistory h, DatabaseHistory.BaseBackup b) {
        Progress p = b.inProgress() ? node.progress().of(h.id(), b.id())
                .orElse(new Progress(b.status().wire(), 0, 0, 0, 0, 0, 0)) : null;
        return new BackupView(b.id(), ReadModel.shownStatus(h, b.status()), b.trigger(), b.requestedAt(), b.startedAt(), b.completedAt(),
                b.consistencyTime(), b.startLsn(), b.stopLsn(), b.timeline(), b.bytes(), b.storedBytes(), b.badPages(), b.failure(), p,
                node.jobs().queuePosition(h.id(), b.id()));
    }

    /** A running job's progress as the API shows it (base backups, dumps and restores report theirs alike). */
    public static Progress progress(BackupProgress p) {
        return new Progress(p.phase(), p.bytesDone(), p.bytesTotal(), p.filesDone(), p.filesTotal(), p.bytesPerSecond(), p.percent(),
                p.replay());
    }
}
