package dev.tidemark.engine.dump;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.node.ReadModel;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.operations.Progress;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** What the dumps of a database look like to the API: from the read model, with the progress of running ones. */
public final class DumpViews {
    private final Node node;

    public DumpViews(Node node) {
        this.node = node;
    }

    public List<DumpView> list(String databaseId) {
        DatabaseHistory h = node.history(databaseId);
        List<DatabaseHistory.Dump> listed = node.readModel().rows(h).map(r -> r.dumps(databaseId)).orElseGet(() -> h.dumps().stream()
                .sorted(Comparator.comparing(DatabaseHistory.Dump::requestedAt).reversed()).toList());
        return listed.stream().map(d -> view(h, d)).toList();
    }

    public DumpView get(String databaseId, String dumpId) {
        return list(databaseId).stream().filter(d -> d.id().equals(dumpId)).findFirst()
                .orElseThrow(() -> new NotFoundException("database " + databaseId + " has no dump '" + dumpId + "'"));
    }

    /** The newest completed dump, for the database's own view. */
    public Optional<DumpView> lastCompleted(DatabaseHistory h) {
        return h.dumps().stream().filter(d -> d.status() == JobStatus.COMPLETED)
                .max(Comparator.comparing(DatabaseHistory.Dump::completedAt)).map(d -> view(h, d));
    }

    private DumpView view(DatabaseHistory h, DatabaseHistory.Dump d) {
        Progress p = d.inProgress() ? node.progress().of(h.id(), d.id())
                .orElse(new Progress(d.status().wire(), 0, 0, 0, 0, 0, 0)) : null;
        List<String> databases = d.status() == JobStatus.COMPLETED || d.status() == JobStatus.EXPIRED
                ? d.archives().stream().map(a -> a.database()).toList() : d.databases();
        boolean stored = d.status() == JobStatus.COMPLETED || d.status() == JobStatus.EXPIRED;
        return new DumpView(d.id(), ReadModel.shownStatus(h, d.status()), d.trigger(), d.requestedAt(), d.completedAt(), databases,
                stored ? d.bytes() : null, stored ? d.storedBytes() : null, d.failure(), p,
                node.jobs().queuePosition(h.id(), d.id()));
    }
}
