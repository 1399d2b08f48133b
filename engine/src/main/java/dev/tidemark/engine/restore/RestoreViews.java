package dev.tidemark.engine.restore;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.RecoveryWindow;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.operations.Progress;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.WindowView;
import dev.tidemark.engine.wal.Streams;

import java.util.Comparator;
import java.util.List;

/** What the restores of a database look like to the API, and its recovery window (what a restore can reach). */
public final class RestoreViews {
    private final Node node;
    private final Streams streams;

    public RestoreViews(Node node, Streams streams) {
        this.node = node;
        this.streams = streams;
    }

    public List<RestoreView> list(String databaseId) {
        DatabaseHistory h = node.history(databaseId);
        List<DatabaseHistory.Restore> listed = node.readModel().rows(h).map(r -> r.restores(databaseId)).orElseGet(() -> h.restores()
                .stream().sorted(Comparator.comparing(DatabaseHistory.Restore::requestedAt).reversed()).toList());
        return listed.stream().map(r -> view(h, r)).toList();
    }

    public RestoreView get(String databaseId, String restoreId) {
        return list(databaseId).stream().filter(r -> r.id().equals(restoreId)).findFirst()
                .orElseThrow(() -> new NotFoundException("database " + databaseId + " has no restore '" + restoreId + "'"));
    }

    private RestoreView view(DatabaseHistory h, DatabaseHistory.Restore r) {
        Progress p = r.inProgress() ? node.progress().of(h.id(), r.id())
                .orElse(new Progress(r.status().wire(), 0, 0, 0, 0, 0, 0)) : null;
        String target = "dump".equals(r.kind()) ? "dump " + r.dumpId() + " (" + r.dumpDatabase() + " -> " + r.targetDatabase() + ")"
                : RecoveryTarget.of(r).toString();
        // in place: the directory the restore recorded when it ended (a later connection change names another one)
        String directory = r.inPlace() ? (r.dataDirectory() != null ? r.dataDirectory() : h.pgdata()) : r.targetDir();
        Integer port = r.inPlace() ? Integer.valueOf(node.primary(h).port()) : r.port();
        return new RestoreView(r.id(), r.status().wire(), target, r.backupId(), directory, port, r.inPlace(), r.requestedAt(), r.startedAt(),
                r.completedAt(), r.reachedTime(), r.summary(), r.failure(), p,
                node.jobs().queuePosition(h.id(), r.id()));
    }

    public WindowView window(String databaseId) {
        return window(node.history(databaseId));
    }

    /** The recovery window: from the oldest usable backup to what the WAL (recorded, and live) reaches. */
    public WindowView window(DatabaseHistory h) {
        if (h.purged()) {
            return new WindowView(null, null, "deregistered with its backups and WAL purged: nothing can be restored", List.of());
        }
        RecoveryWindow w = RecoveryWindow.of(h, node.clock().instant(), streams.live(h.id()));
        return new WindowView(w.start(), w.end(), w.isEmpty() ? w.note() : null,
                w.gaps().stream().map(g -> new WindowView.Excluded(g.after(), g.before(), g.restoreId())).toList());
    }
}
