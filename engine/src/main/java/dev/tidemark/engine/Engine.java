package dev.tidemark.engine;

import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.DumpDownload;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.Operations;
import dev.tidemark.engine.operations.PolicyChange;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.WindowView;

import java.util.List;
import java.util.Optional;

/** The running engine: catalog, WAL streams, workers and scheduler of one node, behind {@link Operations}. */
public final class Engine implements Operations, AutoCloseable {
    private final EngineConfig config;

    private Engine(EngineConfig config) {
        this.config = config;
    }

    /** Starts everything; returns once the catalog is open and streaming has been started for every database. */
    public static Engine start(EngineConfig config) {
        throw new UnsupportedOperationException("being built");
    }

    public EngineConfig config() {
        return config;
    }

    @Override public DatabaseView register(RegisterDatabase request, String actor) { throw new UnsupportedOperationException(); }
    @Override public List<DatabaseView> databases() { throw new UnsupportedOperationException(); }
    @Override public DatabaseView database(String databaseId) { throw new UnsupportedOperationException(); }
    @Override public DatabaseView changePolicy(String databaseId, PolicyChange change, String actor) { throw new UnsupportedOperationException(); }
    @Override public void deregister(String databaseId, boolean purge, String actor) { throw new UnsupportedOperationException(); }
    @Override public BackupView requestBaseBackup(String databaseId, String actor) { throw new UnsupportedOperationException(); }
    @Override public List<BackupView> baseBackups(String databaseId) { throw new UnsupportedOperationException(); }
    @Override public BackupView baseBackup(String databaseId, String backupId) { throw new UnsupportedOperationException(); }
    @Override public DumpView requestDump(String databaseId, List<String> databases, String actor) { throw new UnsupportedOperationException(); }
    @Override public List<DumpView> dumps(String databaseId) { throw new UnsupportedOperationException(); }
    @Override public DumpView dump(String databaseId, String dumpId) { throw new UnsupportedOperationException(); }
    @Override public DumpDownload downloadDump(String databaseId, String dumpId, Optional<String> database) { throw new UnsupportedOperationException(); }
    @Override public RestoreView requestRestore(String databaseId, RestoreRequest request, String actor) { throw new UnsupportedOperationException(); }
    @Override public List<RestoreView> restores(String databaseId) { throw new UnsupportedOperationException(); }
    @Override public RestoreView restore(String databaseId, String restoreId) { throw new UnsupportedOperationException(); }
    @Override public WindowView recoveryWindow(String databaseId) { throw new UnsupportedOperationException(); }
    @Override public EventPage events(String databaseId, long fromSequence, int limit) { throw new UnsupportedOperationException(); }

    @Override
    public void close() {
    }
}
