package dev.tidemark.engine.node;

import dev.tidemark.engine.operations.Progress;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/** How far the jobs running on this node have come, by database and job id, for the views. */
public final class JobProgress {
    private final Map<String, Supplier<Progress>> running = new ConcurrentHashMap<>();

    public void track(String databaseId, String id, Supplier<Progress> progress) {
        running.put(databaseId + "/" + id, progress);
    }

    public void done(String databaseId, String id) {
        running.remove(databaseId + "/" + id);
    }

    public Optional<Progress> of(String databaseId, String id) {
        Supplier<Progress> p = running.get(databaseId + "/" + id);
        return p == null ? Optional.empty() : Optional.of(p.get());
    }
}
