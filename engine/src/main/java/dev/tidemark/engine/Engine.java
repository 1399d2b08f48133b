package dev.tidemark.engine;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogEvent;
import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.CatalogSettings;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.jobs.JobScheduler;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.BaseBackupDownload;
import dev.tidemark.engine.operations.ConflictException;
import dev.tidemark.engine.operations.ConnectionChange;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.DumpDownload;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.operations.Operations;
import dev.tidemark.engine.operations.PolicyChange;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.ReadModelView;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.WindowView;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The running engine of one node: catalog, WAL streams, workers and scheduler, behind {@link Operations}.
 * Requests become catalog events; {@link Work} runs what the events ask for; {@link Views} answers questions.
 */
public final class Engine implements Operations, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);

    private final EngineConfig config;
    private final Clock clock;
    private final Repository repository;
    private final Catalog catalog;
    private final Streams streams;
    private final Work work;
    private final Views views;
    private final Requests requests;
    private JobScheduler scheduler;

    private Engine(EngineConfig config, Clock clock, Repository repository, Catalog catalog, Streams streams, Work work) {
        this.config = config;
        this.clock = clock;
        this.repository = repository;
        this.catalog = catalog;
        this.streams = streams;
        this.work = work;
        this.views = new Views(catalog, streams, work, clock, config.nodeId());
        this.requests = new Requests(config, catalog, streams, work, views, clock, repository);
    }

    /** Starts everything; returns once the catalog is open and streaming has been started for every database. */
    public static Engine start(EngineConfig config) {
        return start(config, Clock.systemUTC());
    }

    public static Engine start(EngineConfig config, Clock clock) {
        Repository repository = null;
        Catalog catalog = null;
        try {
            Files.createDirectories(config.dataDirectory());
            repository = RepositoryFactory.open(config);
            catalog = Catalog.open(new CatalogSettings(config.dataDirectory().resolve("catalog"), config.catalogJdbcUrl(),
                    config.catalogUser(), config.catalogPassword(), config.kafkaBootstrap(), config.kafkaTopic(), clock));
            PgBinaries binaries = PgBinaries.locate(Optional.ofNullable(config.pgBinDirectory()));
            ServerUser user = ServerUser.detect();
            Streams streams = new Streams(config, repository, catalog, clock);
            Work work = new Work(config, repository, catalog, streams, binaries, PgServer.factory(binaries, user), clock);
            Engine engine = new Engine(config, clock, repository, catalog, streams, work);
            engine.resume();
            Warmup.startInBackground();
            LOG.info("engine started: {} databases, repository {}, catalog {}", engine.catalog.view().databases().size(),
                    repository.store().describe(), config.catalogJdbcUrl() == null ? "embedded" : "PostgreSQL");
            return engine;
        } catch (IOException e) {
            closeQuietly(catalog, repository);
            throw new UncheckedIOException("the engine could not start: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(catalog, repository);
            throw e;
        }
    }

    /** After a start: jobs that were running when the engine stopped are failed, streams and the scheduler start. */
    private void resume() {
        work.failInterrupted();
        catalog.subscribe(this::onEvent);
        for (DatabaseHistory db : catalog.view().databases()) {
            if (db.active() && db.ownedBy(config.nodeId())) {
                streams.start(db);
            }
        }
        work.startQueued();
        if (config.schedulerEnabled()) {
            scheduler = new JobScheduler(catalog.dataSource(), Duration.ofSeconds(30), config.nodeId(), requests::scheduledTick);
            scheduler.start();
        }
    }

    private void onEvent(CatalogEvent event) {
        try {
            work.onEvent(event);
        } catch (RuntimeException e) {
            LOG.warn("could not act on {} of {}: {}", event.type(), event.databaseId(), e.getMessage());
        }
    }

    public EngineConfig config() {
        return config;
    }

    public Repository repository() {
        return repository;
    }

    @Override
    public DatabaseView register(RegisterDatabase request, String actor) {
        return guard(() -> requests.register(request, actor));
    }

    @Override
    public List<DatabaseView> databases() {
        return views.databases();
    }

    @Override
    public DatabaseView database(String databaseId) {
        return guard(() -> views.database(databaseId));
    }

    @Override
    public DatabaseView changePolicy(String databaseId, PolicyChange change, String actor) {
        return guard(() -> requests.changePolicy(databaseId, change, actor));
    }

    @Override
    public DatabaseView changeConnection(String databaseId, ConnectionChange change, String actor, boolean newServers) {
        return guard(() -> requests.changeConnection(databaseId, change, actor, newServers));
    }

    @Override
    public void deregister(String databaseId, boolean purge, String actor) {
        guard(() -> {
            requests.deregister(databaseId, purge, actor);
            return null;
        });
    }

    @Override
    public ReadModelView rebuildReadModel(String actor) {
        return guard(() -> {
            LOG.info("read model rebuild asked by {}", actor);
            long start = System.nanoTime();
            boolean current = catalog.rebuildRows(Duration.ofMinutes(1));
            return new ReadModelView(current, catalog.view().databases().size(), (System.nanoTime() - start) / 1_000_000);
        });
    }

    @Override
    public BackupView requestBaseBackup(String databaseId, String actor) {
        return guard(() -> requests.baseBackup(databaseId, "manual", actor));
    }

    @Override
    public List<BackupView> baseBackups(String databaseId) {
        return guard(() -> views.baseBackups(databaseId));
    }

    @Override
    public BackupView baseBackup(String databaseId, String backupId) {
        return guard(() -> views.baseBackup(databaseId, backupId));
    }

    @Override
    public BaseBackupDownload downloadBaseBackup(String databaseId, String backupId) throws IOException {
        return work.downloadBaseBackup(views.history(databaseId), backupId);
    }

    @Override
    public DumpView requestDump(String databaseId, List<String> databases, String actor) {
        return guard(() -> requests.dump(databaseId, databases, "manual", actor));
    }

    @Override
    public List<DumpView> dumps(String databaseId) {
        return guard(() -> views.dumps(databaseId));
    }

    @Override
    public DumpView dump(String databaseId, String dumpId) {
        return guard(() -> views.dump(databaseId, dumpId));
    }

    @Override
    public DumpDownload downloadDump(String databaseId, String dumpId, Optional<String> database) throws IOException {
        return work.download(views.history(databaseId), dumpId, database);
    }

    @Override
    public RestoreView requestRestore(String databaseId, RestoreRequest request, String actor) {
        return guard(() -> requests.restore(databaseId, request, actor));
    }

    @Override
    public RestoreView restoreDump(String databaseId, String dumpId, String database, String targetDatabase, boolean replace,
                                   String actor) {
        return guard(() -> requests.restoreDump(databaseId, dumpId, database, targetDatabase, replace, actor));
    }

    /** Runs the WAL continuity check now (what the scheduler does hourly); returns the number of missing segments. */
    public int checkWal(String databaseId) {
        return guard(() -> requests.checkContinuity(databaseId));
    }

    /** Applies retention now (what the scheduler does after each tick), for tests and operators' tools. */
    public void expire(String databaseId) {
        guard(() -> {
            requests.expire(databaseId, clock.instant());
            return null;
        });
    }

    @Override
    public List<RestoreView> restores(String databaseId) {
        return guard(() -> views.restores(databaseId));
    }

    @Override
    public RestoreView restore(String databaseId, String restoreId) {
        return guard(() -> views.restore(databaseId, restoreId));
    }

    @Override
    public RestoreView cancelRestore(String databaseId, String restoreId, String actor) {
        return guard(() -> requests.cancelRestore(databaseId, restoreId, actor));
    }

    @Override
    public WindowView recoveryWindow(String databaseId) {
        return guard(() -> views.window(databaseId));
    }

    @Override
    public EventPage events(String databaseId, long fromSequence, int limit) {
        return guard(() -> {
            views.history(databaseId);
            if (fromSequence < 0 || limit < 1 || limit > 1000) {
                throw new InvalidRequestException("from must be >= 0 and limit between 1 and 1000");
            }
            return catalog.events(databaseId, fromSequence, limit);
        });
    }

    /** Runs scheduled work now (what the scheduler's tick does), for tests and operators' tools. */
    public void runScheduledJobs() {
        requests.scheduledTick();
    }

    /** Turns catalog rejections into the Operations exceptions the API maps to HTTP statuses. */
    private static <T> T guard(java.util.function.Supplier<T> action) {
        try {
            return action.get();
        } catch (CatalogRejection e) {
            throw switch (e.kind()) {
                case NOT_FOUND -> new NotFoundException(e.getMessage());
                case CONFLICT -> new ConflictException(e.getMessage());
                case INVALID -> new InvalidRequestException(e.getMessage());
            };
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage());
        }
    }

    @Override
    public void close() {
        if (scheduler != null) {
            scheduler.close();
        }
        streams.close();
        work.close();
        closeQuietly(catalog, repository);
        LOG.info("engine stopped");
    }

    private static void closeQuietly(Catalog catalog, Repository repository) {
        if (catalog != null) {
            try {
                catalog.close();
            } catch (RuntimeException e) {
                LOG.warn("closing the catalog failed: {}", e.getMessage());
            }
        }
        if (repository != null) {
            try {
                repository.close();
            } catch (IOException e) {
                LOG.warn("closing the repository failed: {}", e.getMessage());
            }
        }
    }
}
