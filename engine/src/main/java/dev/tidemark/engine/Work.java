package dev.tidemark.engine;

import dev.tidemark.engine.basebackup.BackupArchive;
import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogEvent;
import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.dump.DumpManifest;
import dev.tidemark.engine.dump.DumpRunner;
import dev.tidemark.engine.operations.BaseBackupDownload;
import dev.tidemark.engine.operations.DumpDownload;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.restore.RestoreRunner;
import dev.tidemark.engine.wal.WalStreamSettings;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Runs what catalog events ask for: a requested base backup, dump or restore is started, run, and completed or failed
 * in the catalog. Work that was running when the engine stopped is failed at start, its objects removed.
 */
final class Work implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Work.class);
    static final String INTERRUPTED = "interrupted: the engine stopped while it ran; ask again";
    private static final DateTimeFormatter ID_STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'-'HHmmss").withZone(ZoneOffset.UTC);

    private final EngineConfig config;
    private final Repository repository;
    private final Catalog catalog;
    private final Streams streams;
    private final PgBinaries binaries;
    private final PgServer.Factory servers;
    private final Clock clock;
    private final ExecutorService pool;
    private final Map<String, Supplier<BackupProgress>> progress = new ConcurrentHashMap<>();
    private final Map<String, Boolean> submitted = new ConcurrentHashMap<>();
    private volatile boolean closing;
    /** Restores running on this node, and those asked to be cancelled (by whom), by database/restore id. */
    private final Map<String, RestoreRunner> runningRestores = new ConcurrentHashMap<>();
    private final Map<String, String> cancelledRestores = new ConcurrentHashMap<>();

    Work(EngineConfig config, Repository repository, Catalog catalog, Streams streams, PgBinaries binaries, PgServer.Factory servers,
         Clock clock) {
        this.config = config;
        this.repository = repository;
        this.catalog = catalog;
        this.streams = streams;
        this.binaries = binaries;
        this.servers = servers;
        this.clock = clock;
        this.pool = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "tidemark-work");
            t.setDaemon(true);
            return t;
        });
    }

    static String newId(String kind, Instant now) {
        return kind + "-" + ID_STAMP.format(now) + "-" + Integer.toHexString((int) (Math.random() * 0xfff) + 0x1000).substring(1);
    }

    Optional<BackupProgress> progress(String databaseId, String id) {
        Supplier<BackupProgress> p = progress.get(databaseId + "/" + id);
        return p == null ? Optional.empty() : Optional.of(p.get());
    }

    PgConnections primary(DatabaseHistory db) {
        return PgConnections.parse(db.pgUrl(), config.pgPasswords().get(db.id()));
    }

    /** How long a dump waits for the standby to replay what the primary had written when the dump began. */
    static final Duration STANDBY_CATCH_UP = Duration.ofSeconds(60);

    /**
     * The standby a dump reads, once it has replayed all the primary had written when the dump began (so the dump holds
     * every transaction committed before it was taken); null when there is no standby, or it is paused or cannot catch
     * up within {@link #STANDBY_CATCH_UP}: the dump then reads the primary, and the log says why.
     */
    private PgConnections dumpSource(DatabaseHistory db, String dumpId) {
        if (db.standbyUrl() == null || db.standbyUrl().isBlank()) {
            return null;
        }
        PgConnections standby = PgConnections.parse(db.standbyUrl(), config.pgPasswords().get(db.id()));
        String primaryLsn;
        try (Connection c = primary(db).open(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_current_wal_lsn()::text")) {
            rs.next();
            primaryLsn = rs.getString(1);
        } catch (SQLException e) {
            LOG.info("dump {} of {}: the primary cannot be asked how far it is ({}); the dump reads the standby as it is", dumpId,
                    db.id(), e.getMessage());
            return standby;
        }
        long deadline = System.nanoTime() + STANDBY_CATCH_UP.toNanos();
        String why;
        try (Connection c = standby.open(); PreparedStatement st = c.prepareStatement(
                "select pg_is_in_recovery(), pg_is_wal_replay_paused(), pg_last_wal_replay_lsn() >= ?::pg_lsn,"
                        + " pg_last_wal_replay_lsn()::text, now() - pg_last_xact_replay_timestamp()")) {
            st.setString(1, primaryLsn);
            while (true) {
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    if (!rs.getBoolean(1)) {
                        return standby; // promoted meanwhile: it is as current as it gets
                    }
                    if (rs.getBoolean(3)) {
                        return standby;
                    }
                    if (rs.getBoolean(2)) {
                        why = "its WAL replay is paused (pg_wal_replay_pause) at " + rs.getString(4);
                        break;
                    }
                    if (System.nanoTime() > deadline) {
                        why = "it had replayed up to " + rs.getString(4) + " after " + STANDBY_CATCH_UP.toSeconds()
                                + " s, short of the primary's " + primaryLsn + " (its last replayed transaction is " + rs.getString(5)
                                + " old)";
                        break;
                    }
                }
                Thread.sleep(200);
            }
        } catch (SQLException e) {
            why = "it cannot be asked how far it has replayed (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            why = "interrupted while waiting for it";
        }
        LOG.warn("dump {} of {}: read from the primary, not the standby: {}; a dump of the standby would miss transactions committed"
                + " before the dump began", dumpId, db.id(), why);
        return null;
    }

    /** The server base backups and dumps read: the standby when one is registered. */
    private PgConnections source(DatabaseHistory db) {
        return db.standbyUrl() == null || db.standbyUrl().isBlank() ? primary(db)
                : PgConnections.parse(db.standbyUrl(), config.pgPasswords().get(db.id()));
    }

    private boolean owned(String databaseId) {
        return history(databaseId).map(db -> db.ownedBy(config.nodeId())).orElse(false);
    }

    /** Acts on an event of a database this node owns; another node's databases are its own business. */
    void onEvent(CatalogEvent committed) {
        if (committed.event() instanceof DatabaseEvent.OwnerAssigned e) {
            if (e.node().equals(config.nodeId())) {
                history(e.databaseId()).filter(DatabaseHistory::active).ifPresent(streams::start);
            } else {
                streams.stop(e.databaseId());
            }
            return;
        }
        if (!owned(committed.databaseId())) {
            return;
        }
        switch (committed.event()) {
            case DatabaseEvent.BaseBackupRequested e -> submit(e.databaseId(), e.backupId(), () -> baseBackup(e.databaseId(), e.backupId()));
            case DatabaseEvent.DumpRequested e -> submit(e.databaseId(), e.dumpId(), () -> dump(e.databaseId(), e.dumpId()));
            case DatabaseEvent.RestoreRequested e -> submit(e.databaseId(), e.restoreId(), () -> restore(e.databaseId(), e.restoreId()));
            case DatabaseEvent.ChainChanged e -> {
                streams.stop(e.databaseId());
                LOG.error("database {}: the server is another system now ({} instead of {}): streaming stopped; the old chain stays "
                        + "restorable until retention removes it; register the server under a new id to protect it",
                        e.databaseId(), e.actualChain(), e.expectedChain());
            }
            case DatabaseEvent.DatabaseDeregistered e -> pool.submit(() -> deregistered(e.databaseId(), e.purge()));
            // a thread of its own: the job pool may be busy with long backups and restores of other databases
            case DatabaseEvent.ConnectionChanged e -> Thread.ofPlatform().name("restream-" + e.databaseId()).daemon().start(() -> {
                streams.stop(e.databaseId());
                history(e.databaseId()).filter(DatabaseHistory::active).ifPresent(streams::start);
            });
            default -> {
            }
        }
    }

    private Optional<DatabaseHistory> history(String databaseId) {
        return catalog.view().database(databaseId);
    }

    private void submit(String databaseId, String id, Runnable job) {
        if (submitted.putIfAbsent(databaseId + "/" + id, Boolean.TRUE) == null) {
            pool.submit(() -> {
                try {
                    job.run();
                } catch (RuntimeException e) {
                    LOG.error("job {} of {} failed unexpectedly: {}", id, databaseId, e.toString());
                } finally {
                    submitted.remove(databaseId + "/" + id);
                }
            });
        }
    }

    /** At start: work that was running when the engine stopped is failed and its objects removed. */
    void failInterrupted() {
        for (DatabaseHistory db : catalog.view().databases()) {
            if (!db.ownedBy(config.nodeId())) {
                continue;
            }
            for (DatabaseHistory.BaseBackup b : db.baseBackups()) {
                if ("running".equals(b.status())) {
                    new BaseBackupRunner(repository, BaseBackupRunner.Settings.defaults())
                            .removeQuietly(repository.layout().baseBackupPrefix(db.id(), b.id()));
                    sendQuietly(new Commands.FailBaseBackup(db.id(), b.id(), INTERRUPTED, clock.instant()));
                    LOG.warn("base backup {} of {} was interrupted by an engine stop: marked failed, its objects removed", b.id(), db.id());
                }
            }
            for (DatabaseHistory.Dump d : db.dumps()) {
                if ("running".equals(d.status())) {
                    new DumpRunner(repository, binaries).removeQuietly(repository.layout().dumpPrefix(db.id(), d.id()));
                    sendQuietly(new Commands.FailDump(db.id(), d.id(), INTERRUPTED, clock.instant()));
                    LOG.warn("dump {} of {} was interrupted by an engine stop: marked failed, its objects removed", d.id(), db.id());
                }
            }
            for (DatabaseHistory.Restore r : db.restores()) {
                if ("running".equals(r.status())) {
                    Path dir = r.inPlace() ? Path.of(db.pgdata()) : r.targetDir() == null ? null : Path.of(r.targetDir());
                    String stopped = dir == null ? "" : stopRestoredServer(dir, r.id());
                    String advice = r.inPlace()
                            ? " (" + db.pgdata() + " may hold a partial copy" + stopped + ": the previous data directory is beside it as "
                            + movedAside(Path.of(db.pgdata())) + "; delete the partial copy and move it back)"
                            : r.targetDir() != null ? " (the target directory " + r.targetDir() + " may hold a partial copy" + stopped
                            + ": delete it)"
                            : r.dumpId() != null ? " (its pg_restore, one transaction, may have run on without the engine: database "
                            + r.targetDatabase() + " then holds the whole dump or nothing of it; look before asking again, which"
                            + " needs replace if it holds anything)" : "";
                    sendQuietly(new Commands.FailRestore(db.id(), r.id(), INTERRUPTED + advice, clock.instant()));
                    LOG.warn("restore {} of {} was interrupted by an engine stop: marked failed", r.id(), db.id());
                }
            }
        }
    }

    /**
     * Stops the PostgreSQL an interrupted restore started on dir (recognised by the restore's own lines in its
     * postgresql.auto.conf): left alone it would serve a partial state, on the production port after an in-place
     * restore. Returns a note for the failure message.
     */
    private String stopRestoredServer(Path dir, String restoreId) {
        try {
            // its WAL spool goes first (it claims the directory, and a recovery in restore_command is told to abort)
            RestoreRunner.abandonSpool(dir);
            Path auto = dir.resolve("postgresql.auto.conf");
            if (!Files.isReadable(auto) || !Files.readString(auto).contains("Tidemark restore " + restoreId + " ")) {
                return "";
            }
            PgServer server = serversOwning(dir).at(dir);
            if (!server.isRunning()) {
                return "";
            }
            server.stopImmediately();
            LOG.warn("restore {}: stopped the PostgreSQL it had started on {} (partial state)", restoreId, dir);
            return "; the PostgreSQL the restore had started on it was stopped";
        } catch (IOException | RuntimeException e) {
            LOG.warn("restore {}: could not check or stop a PostgreSQL left running on {}: {}", restoreId, dir, e.getMessage());
            return "; a PostgreSQL the restore started may still run on it: stop it first";
        }
    }

    /** The directories an in-place restore moved the data directory to, newest first, or the pattern when none is found. */
    private static String movedAside(Path pgdata) {
        String prefix = pgdata.getFileName() + ".tidemark-moved-";
        try (var siblings = Files.list(pgdata.toAbsolutePath().getParent())) {
            List<String> found = siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix))
                    .sorted(java.util.Comparator.reverseOrder()).toList();
            if (!found.isEmpty()) {
                return pgdata.resolveSibling(found.get(0)) + (found.size() > 1 ? " (the newest of " + found.size() + " such directories)" : "");
            }
        } catch (IOException | RuntimeException e) {
            // fall through to the pattern
        }
        return prefix + "<time>";
    }

    /** At start: work asked for while the engine was down (or before it stopped) is started. */
    void startQueued() {
        for (DatabaseHistory db : catalog.view().databases()) {
            if (!db.ownedBy(config.nodeId())) {
                continue;
            }
            db.baseBackups().stream().filter(b -> "requested".equals(b.status()))
                    .forEach(b -> submit(db.id(), b.id(), () -> baseBackup(db.id(), b.id())));
            db.dumps().stream().filter(d -> "requested".equals(d.status()))
                    .forEach(d -> submit(db.id(), d.id(), () -> dump(db.id(), d.id())));
            db.restores().stream().filter(r -> "requested".equals(r.status()))
                    .forEach(r -> submit(db.id(), r.id(), () -> restore(db.id(), r.id())));
        }
    }

    private void baseBackup(String databaseId, String backupId) {
        DatabaseHistory db = history(databaseId).orElseThrow();
        boolean fromStandby = db.standbyUrl() != null && !db.standbyUrl().isBlank();
        if (!sendQuietly(new Commands.StartBaseBackup(databaseId, backupId, config.nodeId(), fromStandby, clock.instant()))) {
            return;
        }
        BaseBackupRunner runner = new BaseBackupRunner(repository, BaseBackupRunner.Settings.defaults().withWorkers(config.workers()));
        String key = databaseId + "/" + backupId;
        progress.put(key, runner::progress);
        LOG.info("base backup {} of {} started (from the {})", backupId, databaseId, fromStandby ? "standby" : "primary");
        try {
            BaseBackupRunner.Result result = runner.run(databaseId, backupId, source(db), Path.of(db.pgdata()), streams.durableWal(databaseId));
            BackupManifest m = result.manifest();
            streams.awaitDurableTime(databaseId, m.consistencyTime(), Duration.ofSeconds(30));
            streams.flush(databaseId);
            String startSegment = WalSegment.containing(m.timeline(), Lsn.parse(m.startLsn()), m.walSegmentSize()).name();
            catalog.send(new Commands.CompleteBaseBackup(databaseId, backupId, m.chain(), m.timeline(), m.startLsn(), startSegment,
                    m.stopLsn(), m.startTime(), m.consistencyTime(), m.totalBytes(), result.storedBytes(), result.manifestKey(),
                    result.manifestSha256(), m.badPages().size(), clock.instant()), "worker:" + config.nodeId());
            LOG.info("base backup {} of {} completed: {} MiB ({} MiB stored), consistent at {}{}", backupId, databaseId,
                    m.totalBytes() >> 20, result.storedBytes() >> 20, m.consistencyTime(),
                    m.badPages().isEmpty() ? "" : ", " + m.badPages().size() + " BAD PAGES (see the manifest)");
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            if (stoppedByClose("base backup", backupId, databaseId)) {
                return;
            }
            String reason = reason(e);
            LOG.warn("base backup {} of {} failed: {}", backupId, databaseId, reason);
            // the failure is recorded first, and only a backup the catalog now lists as failed loses its objects: a
            // completion that committed although its sender saw an error (a shared catalog's connection dropped) makes
            // the catalog refuse the failure, and the completed backup keeps what it lists
            if (sendQuietly(new Commands.FailBaseBackup(databaseId, backupId, reason, clock.instant()))) {
                runner.removeQuietly(repository.layout().baseBackupPrefix(databaseId, backupId));
            } else {
                LOG.warn("base backup {} of {}: the catalog did not record its failure, so its objects are kept", backupId, databaseId);
            }
        } finally {
            progress.remove(key);
        }
    }

    private void dump(String databaseId, String dumpId) {
        DatabaseHistory db = history(databaseId).orElseThrow();
        PgConnections dumpSource = dumpSource(db, dumpId);
        boolean fromStandby = dumpSource != null;
        if (!fromStandby) {
            dumpSource = primary(db);
        }
        if (!sendQuietly(new Commands.StartDump(databaseId, dumpId, fromStandby, clock.instant()))) {
            return;
        }
        List<String> databases = db.dump(dumpId).map(DatabaseHistory.Dump::databases).orElse(List.of());
        DumpRunner runner = new DumpRunner(repository, binaries);
        String key = databaseId + "/" + dumpId;
        Instant started = clock.instant();
        progress.put(key, runner::progress);
        LOG.info("dump {} of {} started ({})", dumpId, databaseId, databases.isEmpty() ? "all databases" : databases);
        try {
            DumpManifest manifest = runner.dump(databaseId, dumpId, dumpSource, databases);
            List<DumpArchive> archives = manifest.archives().stream()
                    .map(a -> new DumpArchive(a.database(), a.key(), a.sha256(), a.bytes(), a.storedBytes())).toList();
            catalog.send(new Commands.CompleteDump(databaseId, dumpId, archives, repository.layout().dumpObject(databaseId, dumpId),
                    clock.instant()), "worker:" + config.nodeId());
            LOG.info("dump {} of {} completed: {} databases, {} MiB in {} s", dumpId, databaseId, archives.size(),
                    manifest.totalBytes() >> 20, Duration.between(started, clock.instant()).toSeconds());
        } catch (Exception e) {
            if (stoppedByClose("dump", dumpId, databaseId)) {
                return;
            }
            String reason = reason(e);
            LOG.warn("dump {} of {} failed: {}", dumpId, databaseId, reason);
            if (sendQuietly(new Commands.FailDump(databaseId, dumpId, reason, clock.instant()))) { // first: see baseBackup
                runner.removeQuietly(repository.layout().dumpPrefix(databaseId, dumpId));
            } else {
                LOG.warn("dump {} of {}: the catalog did not record its failure, so its objects are kept", dumpId, databaseId);
            }
        } finally {
            progress.remove(key);
        }
    }

    /** The restore request a restore record describes (also used to check one before it is recorded). */
    RestoreRunner.Request pitrRequest(DatabaseHistory db, String restoreId, String backupId, String manifestSha256, Instant target,
                                      String targetDir, Integer port, boolean inPlace) {
        PgConnections primary = primary(db);
        Path directory = Path.of(inPlace ? db.pgdata() : targetDir);
        int restorePort = inPlace ? primary.port() : port;
        return new RestoreRunner.Request(db.id(), restoreId, backupId, manifestSha256, Optional.ofNullable(target), directory,
                restorePort, inPlace, primary.user(), config.workers(), Duration.ofMinutes(30), primary.password());
    }

    /**
     * A restore of db: its server runs as the owner of db's data directory (as root; PostgreSQL never runs as root), so
     * a copy can use what the original can, and an in-place restore leaves the directory to the user it belonged to.
     */
    RestoreRunner restoreRunner(DatabaseHistory db) {
        return new RestoreRunner(repository, serversOwning(Path.of(db.pgdata())), config.restoreRoots());
    }

    /** Servers run as the owner of directory (the engine's default server user when that cannot be told). */
    private PgServer.Factory serversOwning(Path directory) {
        return PgServer.factory(binaries, ServerUser.owning(directory, servers.at(directory).user()));
    }

    private void restore(String databaseId, String restoreId) {
        DatabaseHistory db = history(databaseId).orElseThrow();
        DatabaseHistory.Restore r = db.restore(restoreId).orElseThrow();
        if (!sendQuietly(new Commands.StartRestore(databaseId, restoreId, clock.instant()))) {
            return;
        }
        String key = databaseId + "/" + restoreId;
        try {
            if ("dump".equals(r.kind())) {
                DumpRunner runner = new DumpRunner(repository, binaries);
                progress.put(key, () -> new BackupProgress("pg_restore", 0, 0, 0, 0, 0));
                DumpManifest manifest = runner.manifest(databaseId, r.dumpId());
                DumpManifest.Archive archive = manifest.archives().stream().filter(a -> a.database().equals(r.dumpDatabase())).findFirst()
                        .orElseThrow(() -> new IOException("dump " + r.dumpId() + " holds no archive of " + r.dumpDatabase()));
                runner.restore(archive, primary(db), r.targetDatabase());
                catalog.send(new Commands.CompleteRestore(databaseId, restoreId, null, null, null, null, null,
                        "restored dump " + r.dumpId() + " of " + r.dumpDatabase() + " into database " + r.targetDatabase(),
                        clock.instant()), "worker:" + config.nodeId());
                return;
            }
            RestoreRunner runner = restoreRunner(db);
            runningRestores.put(key, runner);
            if (cancelledRestores.containsKey(key)) { // cancelled while it waited for its turn
                runner.cancel(cancelledRestores.get(key));
            }
            progress.put(key, runner::progress);
            RestoreRunner.Request request = pitrRequest(db, restoreId, r.backupId(), r.manifestSha256(), r.latest() ? null : r.targetTime(),
                    r.targetDir(), r.port(), r.inPlace());
            LOG.info("restore {} of {} started: {} into {} (port {})", restoreId, databaseId,
                    r.latest() ? "latest" : r.targetTime(), request.targetDirectory(), request.port());
            RestoreRunner.Result result;
            if (r.inPlace()) {
                // no stream to the server while it is restored: one connected during its recovery would follow the old
                // timeline until its next sample; started again below, it meets the promoted server
                streams.stop(databaseId);
            }
            try {
                result = runner.run(request);
            } finally {
                if (r.inPlace()) {
                    history(databaseId).filter(DatabaseHistory::active).ifPresent(streams::start);
                }
            }
            catalog.send(new Commands.CompleteRestore(databaseId, restoreId, result.reachedTime(), result.reachedLsn(), result.timeline(),
                    result.dataDirectory().toString(), result.port(), result.summary(), clock.instant()), "worker:" + config.nodeId());
            if (r.inPlace()) {
                try {
                    catalog.send(new Commands.RequestBaseBackup(databaseId, newId("base", clock.instant()), "after-restore", clock.instant()),
                            "worker:" + config.nodeId());
                } catch (CatalogRejection e) {
                    LOG.warn("could not ask for the base backup after the in-place restore of {}: {}", databaseId, e.getMessage());
                }
            }
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            if (stoppedByClose("restore", restoreId, databaseId)) {
                return;
            }
            String by = cancelledRestores.get(key);
            String reason = by != null ? "cancelled by " + by + " (" + (r.inPlace() ? "the old data directory is back in place"
                    : "nothing of the copy was kept") + ")" : reason(e);
            LOG.warn("restore {} of {} failed: {}", restoreId, databaseId, reason);
            sendQuietly(new Commands.FailRestore(databaseId, restoreId, reason, clock.instant()));
        } finally {
            progress.remove(key);
            runningRestores.remove(key);
            cancelledRestores.remove(key);
        }
    }

    /**
     * Cancels a restore of a database this node owns (running, or waiting for its turn); false when it is another
     * node's to run.
     */
    boolean cancelRestore(String databaseId, String restoreId, String actor) {
        if (!owned(databaseId)) {
            return false;
        }
        String key = databaseId + "/" + restoreId;
        cancelledRestores.put(key, actor);
        RestoreRunner runner = runningRestores.get(key);
        if (runner != null) {
            runner.cancel(actor);
        }
        return true;
    }

    /** A completed base backup as a startable tar archive, its WAL to consistency included. */
    BaseBackupDownload downloadBaseBackup(DatabaseHistory db, String backupId) throws IOException {
        DatabaseHistory.BaseBackup backup = db.baseBackup(backupId)
                .orElseThrow(() -> new NotFoundException("database " + db.id() + " has no base backup " + backupId));
        if (db.purged()) {
            throw new dev.tidemark.engine.operations.ConflictException("database " + db.id() + " was deregistered with its backups"
                    + " purged: base backup " + backupId + " no longer exists");
        }
        if (!"completed".equals(backup.status())) {
            throw new dev.tidemark.engine.operations.ConflictException("base backup " + backupId + " is " + backup.status()
                    + "; only a completed base backup can be downloaded");
        }
        BackupManifest manifest;
        try (InputStream in = repository.openDecoded(backup.manifestKey(), backup.manifestSha256())) {
            manifest = BackupManifest.fromJson(in, backup.manifestKey());
        }
        BackupArchive archive = new BackupArchive(repository);
        BackupArchive.Wal wal = archive.wal(manifest).orElseThrow(() -> new dev.tidemark.engine.operations.ConflictException(
                "base backup " + backupId + " cannot be made whole: WAL between its start " + manifest.startLsn() + " and its stop "
                        + manifest.stopLsn() + " is missing from the repository; download a dump or another base backup"));
        for (BackupManifest.BundleObject o : manifest.objects()) { // before the answer starts: a missing one is a clear 409
            if (repository.store().stat(o.key()).isEmpty()) {
                throw new dev.tidemark.engine.operations.ConflictException("object " + o.key() + " of base backup " + backupId
                        + " is missing from the repository: it was deleted outside Tidemark; download another base backup");
            }
        }
        long approximate = BackupArchive.approximateBytes(manifest, wal);
        return new BaseBackupDownload(db.id() + "-" + backupId + ".tar", approximate, out -> {
            long started = System.nanoTime();
            AtomicLong sent = new AtomicLong();
            LOG.info("download of base backup {} of {} started (about {} MiB of files and WAL)", backupId, db.id(), approximate >> 20);
            try {
                archive.write(manifest, wal, out, sent::addAndGet);
            } catch (IOException | RuntimeException e) {
                LOG.warn("download of base backup {} of {} stopped after {} MiB: {}", backupId, db.id(), sent.get() >> 20, reason(e));
                throw e;
            }
            LOG.info("download of base backup {} of {} finished: {} MiB in {} s", backupId, db.id(), sent.get() >> 20,
                    String.format("%.1f", (System.nanoTime() - started) / 1e9));
        });
    }

    /** A completed dump's archive of one database, streamable from any offset. */
    DumpDownload download(DatabaseHistory db, String dumpId, Optional<String> database) throws IOException {
        DatabaseHistory.Dump dump = db.dump(dumpId).orElseThrow(() -> new NotFoundException("database " + db.id() + " has no dump " + dumpId));
        if (db.purged()) {
            throw new dev.tidemark.engine.operations.ConflictException("database " + db.id() + " was deregistered with its backups"
                    + " purged: dump " + dumpId + " no longer exists");
        }
        if (!"completed".equals(dump.status())) {
            throw new dev.tidemark.engine.operations.ConflictException("dump " + dumpId + " is " + dump.status()
                    + "; only a completed dump can be downloaded");
        }
        if (database.isEmpty() && dump.archives().size() > 1) {
            throw new InvalidRequestException("dump " + dumpId + " holds " + dump.archives().size() + " databases, one archive each: "
                    + dump.archives().stream().map(DumpArchive::database).toList() + "; say which to download (?database=NAME, or"
                    + " --database NAME)");
        }
        DumpArchive archive = database.isEmpty() ? dump.archives().get(0) : dump.archives().stream()
                .filter(a -> a.database().equals(database.get())).findFirst()
                .orElseThrow(() -> new NotFoundException("dump " + dumpId + " holds no database '" + database.get() + "'; it holds "
                        + dump.archives().stream().map(DumpArchive::database).toList()));
        if (repository.store().stat(archive.key()).isEmpty()) {
            throw new dev.tidemark.engine.operations.ConflictException("the archive of dump " + dumpId + " (" + archive.key()
                    + ") is missing from the repository: it was deleted outside Tidemark; download another dump");
        }
        DumpRunner runner = new DumpRunner(repository, binaries);
        DumpManifest.Archive stored = new DumpManifest.Archive(archive.database(), archive.key(), archive.sha256(), archive.bytes(),
                archive.storedBytes());
        // a file name, whatever the database is called: no directory, no quote that would end the header
        String safeName = archive.database().replaceAll("[^A-Za-z0-9._-]", "_");
        return new DumpDownload(db.id() + "-" + dumpId + "-" + safeName + ".dump", archive.bytes(), archive.sha256(), offset -> {
            InputStream in = runner.open(stored);
            if (offset > 0) {
                in.skipNBytes(offset);
            }
            return in;
        });
    }

    private void deregistered(String databaseId, boolean purge) {
        DatabaseHistory db = history(databaseId).orElse(null);
        streams.stop(databaseId);
        if (db != null) {
            try (Connection c = primary(db).open();
                 PreparedStatement s = c.prepareStatement("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                         + "where slot_name = ? and not active")) {
                s.setString(1, WalStreamSettings.defaults(databaseId).slotName());
                s.execute();
                LOG.info("database {} deregistered: replication slot dropped, so the server no longer keeps WAL for Tidemark", databaseId);
            } catch (SQLException e) {
                LOG.warn("database {} deregistered, but its replication slot could not be dropped ({}); drop it by hand: "
                        + "select pg_drop_replication_slot('{}')", databaseId, e.getMessage(), WalStreamSettings.defaults(databaseId).slotName());
            }
        }
        if (purge) {
            String prefix = repository.layout().databasePrefix(databaseId);
            try {
                LOG.info("database {} purged: {} objects deleted from the repository", databaseId, repository.deleteUnder(prefix));
            } catch (IOException | RuntimeException e) {
                LOG.warn("purging the objects of {} failed: {}; run the deregistration again or delete {} by hand", databaseId,
                        e.getMessage(), prefix);
            }
        }
    }

    private boolean sendQuietly(Object command) {
        try {
            catalog.send(command, "worker:" + config.nodeId());
            return true;
        } catch (RuntimeException e) {
            LOG.warn("{} was refused: {}", command.getClass().getSimpleName(), e.getMessage());
            return false;
        }
    }

    static String reason(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            message = e.getClass().getSimpleName();
        } else if (e instanceof java.nio.file.FileAlreadyExistsException) {
            message = "already exists: " + message; // the file system's exceptions say only the path
        } else if (e instanceof java.nio.file.NoSuchFileException) {
            message = "no such file or directory: " + message;
        } else if (e instanceof java.nio.file.AccessDeniedException) {
            message = "permission denied: " + message;
        } else if (e instanceof java.nio.file.DirectoryNotEmptyException) {
            message = "directory not empty: " + message;
        }
        return message.length() > 2000 ? message.substring(0, 2000) + "..." : message;
    }

    /**
     * Whether the engine's stop interrupted the job: then the failure it met is the stop's doing, and the job is not
     * recorded as failed now (the catalog refuses commands from an interrupted thread) but at the next start, as
     * interrupted, its objects removed.
     */
    private boolean stoppedByClose(String what, String id, String databaseId) {
        if (!closing) {
            return false;
        }
        LOG.info("{} {} of {} interrupted by the engine's stop: it is marked failed (interrupted) at the next start", what, id,
                databaseId);
        return true;
    }

    @Override
    public void close() {
        closing = true;
        pool.shutdownNow();
        try {
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
