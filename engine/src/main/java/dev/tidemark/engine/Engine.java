package dev.tidemark.engine;

import dev.tidemark.engine.basebackup.BaseBackupDownloads;
import dev.tidemark.engine.basebackup.BaseBackupJob;
import dev.tidemark.engine.basebackup.BaseBackupRequest;
import dev.tidemark.engine.basebackup.BaseBackupViews;
import dev.tidemark.engine.basebackup.Warmup;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.CatalogSettings;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.config.RepositoryFactory;
import dev.tidemark.engine.dump.DumpDownloads;
import dev.tidemark.engine.dump.DumpJob;
import dev.tidemark.engine.dump.DumpRequest;
import dev.tidemark.engine.dump.DumpRestore;
import dev.tidemark.engine.dump.DumpViews;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.node.FencedStore;
import dev.tidemark.engine.node.Leases;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.*;
import dev.tidemark.engine.ownership.Takeover;
import dev.tidemark.engine.postgres.Credentials;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.recovery.CatalogRecovery;
import dev.tidemark.engine.recovery.Installation;
import dev.tidemark.engine.recovery.WriterFence;
import dev.tidemark.engine.recovery.RepositoryContents;
import dev.tidemark.engine.registration.DatabaseViews;
import dev.tidemark.engine.registration.Deregistration;
import dev.tidemark.engine.registration.Registration;
import dev.tidemark.engine.restore.PointInTimeRequest;
import dev.tidemark.engine.restore.RestoreCancel;
import dev.tidemark.engine.restore.RestoreJob;
import dev.tidemark.engine.restore.RestoreViews;
import dev.tidemark.engine.restore.WalScanWarmUp;
import dev.tidemark.engine.retention.Expiry;
import dev.tidemark.engine.schedule.JobScheduler;
import dev.tidemark.engine.schedule.ScheduledTick;
import dev.tidemark.engine.verify.Verification;
import dev.tidemark.engine.wal.ContinuityCheck;
import dev.tidemark.engine.wal.Streams;
import dev.tidemark.engine.wal.WalBuffers;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.keys.KeyRotation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The running engine of one node behind {@link Operations}: it starts the node and its capabilities, and routes each
 * operation to the capability that owns it (registration, basebackup, dump, restore, retention, schedule, wal).
 */
public final class Engine implements Operations, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);
    /** How often committed events are written into the repository (issue 18). */
    private static final Duration MIRROR_INTERVAL = Duration.ofSeconds(2);
    /** The key a running verification's progress is kept under in the node's job progress (a job id never has a space). */
    private static final String VERIFICATION = "verification running";

    private final EngineConfig config;
    private final Node node;
    private final Streams streams;
    private final ContinuityCheck continuity;
    private final BaseBackupRequest baseBackupRequest;
    private final BaseBackupViews baseBackupViews;
    private final BaseBackupDownloads baseBackupDownloads;
    private final DumpRequest dumpRequest;
    private final DumpRestore dumpRestore;
    private final DumpViews dumpViews;
    private final DumpDownloads dumpDownloads;
    private final PointInTimeRequest restoreRequest;
    private final RestoreCancel restoreCancel;
    private final RestoreViews restoreViews;
    private final DatabaseViews databaseViews;
    private final Registration registration;
    private final Expiry expiry;
    private final ScheduledTick tick;
    private final WriterFence fence;
    private final Repository opened; // the repository as opened; the node writes through the fence
    private JobScheduler scheduler;
    private volatile boolean resumed;
    private volatile boolean crashed;

    private Engine(EngineConfig config, Node node, PgBinaries binaries, PgServer.Factory servers, WriterFence fence, Repository opened) {
        this.config = config;
        this.node = node;
        this.fence = fence;
        this.opened = opened;
        // the jobs register their handlers in this order, which is the order they act at start: backups, dumps, restores
        this.streams = new Streams(node, config.walPartialInterval(), new WalBuffers(
                config.walBufferMemory() == 0 ? WalBuffers.defaultMemory() : config.walBufferMemory(), WalBuffers.defaultUploaders(),
                config.dataDirectory().resolve("wal-spool")));
        new BaseBackupJob(node, streams);
        new DumpJob(node, binaries);
        this.dumpRestore = new DumpRestore(node, binaries);
        RestoreJob restoreJob = new RestoreJob(node, streams, binaries, servers, config.restoreRoots());
        new Deregistration(node, streams);
        this.continuity = new ContinuityCheck(node, streams);
        this.baseBackupRequest = new BaseBackupRequest(node);
        this.baseBackupViews = new BaseBackupViews(node);
        this.baseBackupDownloads = new BaseBackupDownloads(node.repository());
        this.dumpRequest = new DumpRequest(node);
        this.dumpViews = new DumpViews(node);
        this.dumpDownloads = new DumpDownloads(node.repository(), binaries);
        this.restoreRequest = new PointInTimeRequest(node, streams, restoreJob, config.repository().uri());
        this.restoreCancel = new RestoreCancel(node, restoreJob);
        this.restoreViews = new RestoreViews(node, streams);
        this.databaseViews = new DatabaseViews(node, streams, baseBackupViews, dumpViews, restoreViews);
        this.registration = new Registration(node, streams, databaseViews, config.schedulerEnabled());
        this.expiry = new Expiry(node);
        this.tick = new ScheduledTick(node, baseBackupRequest, dumpRequest, expiry, continuity);
    }

    /** Starts everything; returns once the catalog is open and streaming has been started for every database. */
    public static Engine start(EngineConfig config) {
        return start(config, Clock.systemUTC());
    }

    public static Engine start(EngineConfig config, Clock clock) {
        Repository repository = null;
        Catalog catalog = null;
        WriterFence fence = null;
        try {
            // everything a start can refuse by itself, before the repository is taken over
            Duration quiet = WriterFence.quietTime();
            Takeover.leaseDuration();
            PgBinaries binaries = PgBinaries.locate(Optional.ofNullable(config.pgBinDirectory()));
            ServerUser user = ServerUser.detect();
            Files.createDirectories(config.dataDirectory());
            repository = RepositoryFactory.open(config);
            CatalogSettings catalogSettings = new CatalogSettings(config.dataDirectory().resolve("catalog"), config.catalogJdbcUrl(),
                    config.catalogUser(), config.catalogPassword(), config.kafkaBootstrap(), config.kafkaTopic(), clock);
            catalog = Catalog.open(catalogSettings);
            // issue 18: never silently empty on a repository that holds databases; every event mirrored into the repository
            String installation = Installation.check(catalog, repository); // a repository of another installation: refused here
            // an old host come back, or a second engine beside a live one: refused here, nothing written
            WriterFence.Claim claim = WriterFence.check(catalog, repository, quiet);
            catalog = CatalogRecovery.atStart(catalog, repository, config.recoverOnStart(), claim.catchUp(),
                    () -> Catalog.open(catalogSettings));
            fence = claim.take(config.nodeId());
            Repository fenced = fenced(repository, fence);
            Installation.claim(catalog, fenced, installation);
            catalog.mirrorTo(fenced, MIRROR_INTERVAL);
            Node node = new Node(config.nodeId(), config.dataDirectory(), config.workers(), config.maxConcurrentJobs(), catalog,
                    fenced, clock, new Credentials(config.pgPasswords()));
            Engine engine = new Engine(config, node, binaries, PgServer.factory(binaries, user), fence, repository);
            fence.onSuperseded(engine::retire);
            engine.resume();
            Warmup.startInBackground("the WAL scan of restores", WalScanWarmUp::run);
            LOG.info("engine started: {} databases, repository {}, catalog {}", catalog.view().databases().size(),
                    repository.store().describe(), config.catalogJdbcUrl() == null ? "embedded" : "PostgreSQL");
            return engine;
        } catch (IOException e) {
            abandon(catalog, fence, repository);
            throw new UncheckedIOException("the engine could not start: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            abandon(catalog, fence, repository);
            throw e;
        }
    }

    /** A start that failed: the writer record given back if it was taken, the rest closed. */
    private static void abandon(Catalog catalog, WriterFence fence, Repository repository) {
        closeQuietly(catalog);
        if (fence != null) {
            fence.abandon();
        }
        closeQuietly(repository);
    }

    /** The repository as the engine writes it: every write refused once the writer fence says no. */
    private static Repository fenced(Repository repository, WriterFence fence) {
        return new Repository(new FencedStore(repository.store(), fence::mayWrite, "the repository", fence::why), repository.layout(),
                repository.codec());
    }

    /** The repository was taken over by another catalog's engines: everything stops writing, for good. */
    private void retire(String reason) {
        node.retire(reason);
        node.catalog().view().databases().forEach(db -> streams.stop(db.id()));
    }

    /**
     * tidemark catalog recover: with no engine running on this configuration, recovers every database of the repository
     * the catalog does not hold whole (from its mirrored events, else from its manifests and WAL) and says what it could not.
     * Running it again changes nothing.
     */
    public static CatalogRecoveryView recoverCatalog(EngineConfig config) throws IOException {
        Files.createDirectories(config.dataDirectory());
        try (Repository repository = RepositoryFactory.open(config);
             Catalog catalog = Catalog.open(new CatalogSettings(config.dataDirectory().resolve("catalog"), config.catalogJdbcUrl(),
                     config.catalogUser(), config.catalogPassword(), null, null, Clock.systemUTC()))) {
            String installation = Installation.check(catalog, repository);
            WriterFence.noteRecovery(catalog, repository); // the engine started on it may take over once the old writer is quiet
            CatalogRecovery.Report report = CatalogRecovery.recover(catalog, repository, RepositoryContents.scan(repository));
            Installation.claim(catalog, repository, installation);
            return new CatalogRecoveryView(report.databases().stream().map(d -> new CatalogRecoveryView.Database(d.databaseId(),
                    d.events(), d.imported(), d.problems())).toList());
        }
    }

    /**
     * Rotates the repository's master key to the key in newKeyFile (docs/operations.md, "Rotating the master key"): the
     * configured key and previous keys read, the new key writes; the key record says "rotating" until every object is
     * under the new key. Interrupted (an exception from the listener, a kill), it resumes where it stopped when run again.
     */
    public static KeyRotation.Summary rotateKey(EngineConfig config, Path newKeyFile, boolean enginesStopped, KeyRotation.Listener listener)
            throws IOException {
        return RepositoryFactory.rotateKey(config, newKeyFile, enginesStopped, listener);
    }

    /** After a start: jobs that were running when the engine stopped are failed, streams and the scheduler start. */
    private void resume() {
        Takeover.start(node, streams, () -> resumed);
        node.failInterrupted();
        node.catalog().subscribe(node.events()::dispatch);
        // after the handlers (a job asked for is submitted by then): GETs waiting for a job of the database look again
        node.catalog().subscribe(committed -> node.jobChanges().signal(committed.databaseId()));
        streams.startOwned();
        node.startQueued();
        // issue 20: every node's window reaches within seconds of the owner's
        node.livePositions().start(() -> {
            Map<String, Commands.LiveWal> live = new HashMap<>();
            if (node.leases().map(Leases::othersLive).orElse(false)) { // alone, nobody reads them: no write every 2 s
                ownedDatabases().forEach(id -> live.put(id, streams.live(id)));
            }
            return live;
        });
        if (config.schedulerEnabled()) {
            scheduler = new JobScheduler(node.catalog().dataSource(), Duration.ofSeconds(30), config.nodeId(), tick);
            scheduler.start();
        }
        resumed = true;
    }

    /** Lease duration (issue 20): JVM option -Dtidemark.lease-seconds, 15 s by default. */
    static Duration leaseDuration() {
        return Takeover.leaseDuration();
    }

    /** Test hook: the node stops as if killed: its leases are not released (they lapse), its streams end. */
    public void crashForTest() {
        node.leases().ifPresent(Leases::crash);
        crashed = true; // nor is the writer record marked stopped
        close();
    }

    /** Test hook: a frozen renewal thread (true) or a resumed one (false); the fence keeps running. */
    public void pauseLeaseRenewalForTest(boolean pause) {
        node.leases().ifPresent(l -> l.pauseRenewal(pause));
    }

    @Override
    public Optional<String> takenOver() {
        return node.retired();
    }

    @Override
    public List<NodeView> nodes() {
        return node.leases().map(Leases::nodes).orElse(List.of()).stream()
                .map(n -> new NodeView(n.id(), n.heartbeat().toInstant(), n.heartbeatAgeSeconds(), n.live(), n.draining(), n.databases()))
                .toList();
    }

    @Override
    public NodeView drainNode(String nodeId, boolean drain, String actor) {
        Leases leases = node.leases().orElseThrow(() -> new IllegalStateException("this engine has no lease table"));
        List<NodeView> nodes = nodes();
        if (nodes.stream().noneMatch(n -> n.id().equals(nodeId))) {
            throw new NotFoundException("node '" + nodeId + "' has no heartbeat in the catalog; see GET /v1/nodes (tidemark node list)");
        }
        if (drain && nodes.stream().noneMatch(n -> !n.id().equals(nodeId) && n.live() && !n.draining())) {
            // its databases would go to nobody: no stream, no backup, until a node takes them
            throw new ConflictException("node '" + nodeId + "' is the only live node that takes databases: drained, its databases"
                    + " would have no node to go to and their protection (WAL streaming, backups) would stop. Start another node"
                    + " first (tidemark node list shows which are live); nothing was changed");
        }
        LOG.info("node {} {} by {}", nodeId, drain ? "drained" : "undrained", actor);
        leases.requestDrain(nodeId, drain);
        return nodes().stream().filter(n -> n.id().equals(nodeId)).findFirst().orElseThrow();
    }

    public Set<String> ownedDatabases() {
        return node.leases().map(Leases::held).orElse(Set.of());
    }

    public EngineConfig config() {
        return config;
    }

    public Repository repository() {
        return node.repository();
    }

    @Override
    public DatabaseView register(RegisterDatabase request, String actor) {
        return guard(() -> registration.register(request, actor));
    }

    @Override
    public List<DatabaseView> databases() {
        return databaseViews.list();
    }

    @Override
    public List<DatabaseView> databases(Predicate<String> visible, String after, int limit) {
        if (limit < 1) {
            throw new InvalidRequestException("limit is " + limit + ": ask for at least one database per page");
        }
        return databaseViews.page(visible, after, limit);
    }

    @Override
    public DatabaseView database(String databaseId) {
        return guard(() -> databaseViews.get(databaseId));
    }

    @Override
    public DatabaseView changePolicy(String databaseId, PolicyChange change, String actor) {
        return guard(() -> registration.changePolicy(databaseId, change, actor));
    }

    @Override
    public DatabaseView changeConnection(String databaseId, ConnectionChange change, String actor, boolean newServers) {
        return guard(() -> registration.changeConnection(databaseId, change, actor, newServers));
    }

    @Override
    public void deregister(String databaseId, boolean purge, String actor) {
        guard(() -> {
            registration.deregister(databaseId, purge, actor);
            return null;
        });
    }

    @Override
    public ReadModelView rebuildReadModel(String actor) {
        return guard(() -> {
            LOG.info("read model rebuild asked by {}", actor);
            long start = System.nanoTime();
            boolean current = node.catalog().rebuildRows(Duration.ofMinutes(1));
            return new ReadModelView(current, node.catalog().view().databases().size(), (System.nanoTime() - start) / 1_000_000);
        });
    }

    @Override
    public BackupView requestBaseBackup(String databaseId, String actor) {
        return guard(() -> baseBackupViews.get(databaseId, baseBackupRequest.ask(databaseId, "manual", actor)));
    }

    @Override
    public List<BackupView> baseBackups(String databaseId) {
        return guard(() -> baseBackupViews.list(databaseId));
    }

    @Override
    public BackupView baseBackup(String databaseId, String backupId) {
        return guard(() -> baseBackupViews.get(databaseId, backupId));
    }

    @Override
    public BackupView baseBackup(String databaseId, String backupId, Duration wait) {
        node.jobChanges().awaitStatusChange(databaseId, wait, () -> node.find(databaseId).flatMap(h -> h.baseBackup(backupId))
                .map(DatabaseHistory.BaseBackup::status));
        return baseBackup(databaseId, backupId);
    }

    @Override
    public BaseBackupDownload downloadBaseBackup(String databaseId, String backupId) throws IOException {
        return baseBackupDownloads.open(node.history(databaseId), backupId);
    }

    @Override
    public DumpView requestDump(String databaseId, List<String> databases, String actor) {
        return guard(() -> dumpViews.get(databaseId, dumpRequest.ask(databaseId, databases, "manual", actor)));
    }

    @Override
    public List<DumpView> dumps(String databaseId) {
        return guard(() -> dumpViews.list(databaseId));
    }

    @Override
    public DumpView dump(String databaseId, String dumpId) {
        return guard(() -> dumpViews.get(databaseId, dumpId));
    }

    @Override
    public DumpView dump(String databaseId, String dumpId, Duration wait) {
        node.jobChanges().awaitStatusChange(databaseId, wait, () -> node.find(databaseId).flatMap(h -> h.dump(dumpId))
                .map(DatabaseHistory.Dump::status));
        return dump(databaseId, dumpId);
    }

    @Override
    public DumpDownload downloadDump(String databaseId, String dumpId, Optional<String> database) throws IOException {
        return dumpDownloads.open(node.history(databaseId), dumpId, database);
    }

    @Override
    public RestoreView requestRestore(String databaseId, RestoreRequest request, String actor) {
        return guard(() -> restoreViews.get(databaseId, restoreRequest.ask(databaseId, request, actor)));
    }

    @Override
    public RestoreView restoreDump(String databaseId, String dumpId, String database, String targetDatabase, boolean replace,
                                   String actor) {
        return guard(() -> restoreViews.get(databaseId, dumpRestore.ask(databaseId, dumpId, database, targetDatabase, replace, actor)));
    }

    /** Runs the WAL continuity check now (what the scheduler does hourly); returns the number of missing segments. */
    public int checkWal(String databaseId) {
        return guard(() -> continuity.check(databaseId));
    }

    /** Applies retention now (what the scheduler does after each tick), for tests and operators' tools. */
    public void expire(String databaseId) {
        guard(() -> {
            expiry.expire(databaseId, node.clock().instant());
            return null;
        });
    }

    @Override
    public List<RestoreView> restores(String databaseId) {
        return guard(() -> restoreViews.list(databaseId));
    }

    @Override
    public RestoreView restore(String databaseId, String restoreId) {
        return guard(() -> restoreViews.get(databaseId, restoreId));
    }

    @Override
    public RestoreView restore(String databaseId, String restoreId, Duration wait) {
        node.jobChanges().awaitStatusChange(databaseId, wait, () -> node.find(databaseId).flatMap(h -> h.restore(restoreId))
                .map(DatabaseHistory.Restore::status));
        return restore(databaseId, restoreId);
    }

    @Override
    public RestoreView cancelRestore(String databaseId, String restoreId, String actor) {
        return guard(() -> {
            restoreCancel.cancel(databaseId, restoreId, actor);
            return restoreViews.get(databaseId, restoreId);
        });
    }

    @Override
    public WindowView recoveryWindow(String databaseId) {
        return guard(() -> restoreViews.window(databaseId));
    }

    @Override
    public VerifyReport verify(String databaseId) throws IOException {
        guard(() -> node.history(databaseId));
        streams.flush(databaseId); // the WAL gathered so far is recorded, so the window verified is the one restores see
        Verification verification = new Verification(node.repository(), node.history(databaseId), node.workers());
        node.progress().track(databaseId, VERIFICATION, verification::progress);
        try {
            return verification.run(node.clock().instant(), streams.live(databaseId));
        } finally {
            node.progress().done(databaseId, VERIFICATION);
        }
    }

    @Override
    public Progress verifyProgress(String databaseId) {
        guard(() -> node.history(databaseId));
        return node.progress().of(databaseId, VERIFICATION).orElseThrow(() -> new NotFoundException("no verification of "
                + databaseId + " is running on this node: start one with tidemark verify " + databaseId));
    }

    @Override
    public EventPage events(String databaseId, long fromSequence, int limit) {
        return guard(() -> {
            node.history(databaseId);
            if (fromSequence < 0 || limit < 1 || limit > 1000) {
                throw new InvalidRequestException("from must be >= 0 and limit between 1 and 1000");
            }
            return node.catalog().events(databaseId, fromSequence, limit);
        });
    }

    /** Runs scheduled work now (what the scheduler's tick does), for tests and operators' tools. */
    public void runScheduledJobs() {
        tick.run();
    }

    /** Turns catalog rejections into the Operations exceptions the API maps to HTTP statuses. */
    private static <T> T guard(Supplier<T> action) {
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
        // the last node of the catalog says so in the writer record: another catalog's engine need not wait for it to be quiet
        boolean last = !crashed && !node.leases().map(Leases::othersLive).orElse(false);
        node.leases().ifPresent(Leases::stopRenewing); // no new database is taken while the streams stop
        node.livePositions().close();
        if (scheduler != null) {
            scheduler.close();
        }
        streams.close();
        node.close();
        closeQuietly(node.catalog()); // the catalog's last events mirrored before the fence closes
        if (last) {
            fence.release();
        } else {
            fence.close();
        }
        closeQuietly(opened);
        LOG.info("engine stopped");
    }

    private static void closeQuietly(Catalog catalog) {
        if (catalog != null) {
            try {
                catalog.close();
            } catch (RuntimeException e) {
                LOG.warn("closing the catalog failed: {}", e.getMessage());
            }
        }
    }

    private static void closeQuietly(Repository repository) {
        if (repository != null) {
            try {
                repository.close();
            } catch (IOException e) {
                LOG.warn("closing the repository failed: {}", e.getMessage());
            }
        }
    }
}
