package dev.tidemark.engine.node;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.postgres.Credentials;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What every capability of this engine node shares: its name, the catalog, the repository, the clock, the servers'
 * credentials, the job pool, the progress of running jobs and the registry of event handlers. Knows no capability.
 */
public final class Node implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Node.class);

    private final String id;
    private final Path dataDirectory;
    private final int workers;
    private final Catalog catalog;
    private final Repository repository;
    private final Clock clock;
    private final Credentials credentials;
    private final Jobs jobs;
    private final JobProgress progress = new JobProgress();
    private final EventHandlers events = new EventHandlers(this::owned);
    private final JobChanges jobChanges = new JobChanges();
    private final ReadModel readModel;
    private volatile Leases leases; // null: ownership as the catalog's events record it (no lease table)
    private volatile String retired; // why this node owns nothing for good (its repository taken over by another catalog)
    private final LivePositions livePositions;

    /**
     * @param id            this node's name in a multi-node setup
     * @param dataDirectory spool, embedded catalog, generated files
     * @param workers       parallel workers of base backups and restores
     * @param maxJobs       base backups, dumps and restores running at once; the others are queued
     */
    public Node(String id, Path dataDirectory, int workers, int maxJobs, Catalog catalog, Repository repository, Clock clock,
                Credentials credentials) {
        this.id = id;
        this.jobs = new Jobs(maxJobs);
        this.dataDirectory = dataDirectory;
        this.workers = workers;
        this.catalog = catalog;
        this.repository = repository;
        this.clock = clock;
        this.credentials = credentials;
        this.readModel = new ReadModel(catalog);
        this.livePositions = new LivePositions(catalog.dataSource(), id);
    }

    public String id() {
        return id;
    }

    public Path dataDirectory() {
        return dataDirectory;
    }

    public int workers() {
        return workers;
    }

    public Catalog catalog() {
        return catalog;
    }

    public Repository repository() {
        return repository;
    }

    public Clock clock() {
        return clock;
    }

    public Credentials credentials() {
        return credentials;
    }

    public Jobs jobs() {
        return jobs;
    }

    public JobProgress progress() {
        return progress;
    }

    public EventHandlers events() {
        return events;
    }

    /** Signalled on every committed event: what a GET waiting for its job's change waits on. */
    public JobChanges jobChanges() {
        return jobChanges;
    }

    public ReadModel readModel() {
        return readModel;
    }

    /** The database's history, when it is registered (or was). */
    public Optional<DatabaseHistory> find(String databaseId) {
        return catalog.view().database(databaseId);
    }

    /** The database's history; {@link NotFoundException} when it was never registered. */
    public DatabaseHistory history(String databaseId) {
        return find(databaseId)
                .orElseThrow(() -> new NotFoundException("database '" + (databaseId.length() > 80 ? databaseId.substring(0, 80) + "..." : databaseId)
                        + "' is not registered; see GET /v1/databases (tidemark db list)"));
    }

    /** Owned: this node holds the database's lease now (with leases), or the catalog records it as the owner (without). */
    public boolean owned(String databaseId) {
        if (retired != null) {
            return false;
        }
        Leases l = leases;
        if (l != null) {
            return l.holds(databaseId);
        }
        return find(databaseId).map(db -> db.ownedBy(id)).orElse(false);
    }

    /** The check before writing for a database into the repository: the lease is held now (see {@link Leases}). */
    public boolean mayWrite(String databaseId) {
        if (retired != null) {
            return false;
        }
        Leases l = leases;
        return l == null ? owned(databaseId) : l.mayWrite(databaseId);
    }

    /**
     * The repository a job of the database writes through: it refuses every write once the job was cancelled or this node
     * no longer holds the database's lease (issue 20); a refusal for the lease cancels the database's jobs at once, so a
     * node that wakes from a freeze writes nothing, even before its lease watchdog runs.
     */
    public Repository writableRepository(String databaseId, String jobId) {
        return new Repository(new FencedStore(repository.store(), () -> {
            if (jobs.cancelled(databaseId, jobId)) {
                return false;
            }
            if (mayWrite(databaseId)) {
                return true;
            }
            jobs.cancel(databaseId);
            return false;
        }, "database " + databaseId), repository.layout(), repository.codec());
    }

    /** The durable WAL positions the owners share (issue 20): another node's databases' windows reach within seconds. */
    public LivePositions livePositions() {
        return livePositions;
    }

    /**
     * For good: this node owns and writes nothing more (the engines of another catalog took its repository over); its jobs
     * are cancelled and its catalog takes no command. The caller stops the streams.
     */
    public void retire(String reason) {
        retired = reason;
        catalog.refuseCommands(reason + ": this engine writes nothing more and records no request; stop it"
                + " (docs/recovery-runbook.md, 'The engine's host is lost')");
        catalog.view().databases().forEach(db -> jobs.cancel(db.id()));
    }

    /** Why this node was retired, if it was. */
    public Optional<String> retired() {
        return Optional.ofNullable(retired);
    }

    public void useLeases(Leases leases) {
        this.leases = leases;
    }

    public Optional<Leases> leases() {
        return Optional.ofNullable(leases);
    }

    /**
     * A database this node (re)gained: the jobs its previous owner, or this node before it lost the lease, was running are
     * failed as interrupted, the queued ones started here.
     */
    public void adopt(String databaseId) {
        find(databaseId).ifPresent(db -> {
            events.failInterrupted(db);
            events.startQueued(db);
        });
    }

    /** The database's primary, with its credentials. */
    public PgConnections primary(DatabaseHistory db) {
        return credentials.server(db.id(), db.pgUrl());
    }

    /** The actor of what a job records. */
    public String worker() {
        return "worker:" + id;
    }

    public String newId(String kind) {
        return Ids.newId(kind, clock.instant());
    }

    /** Sends a job's command to the catalog; false (logged) when it is refused. */
    public boolean sendQuietly(Object command) {
        try {
            catalog.send(command, worker());
            return true;
        } catch (RuntimeException e) {
            LOG.warn("{} was refused: {}", command.getClass().getSimpleName(), e.getMessage());
            return false;
        }
    }

    /** The keys of the repository's objects under prefix. */
    public List<String> keysUnder(String prefix) throws IOException {
        try (Stream<ObjectInfo> objects = repository.store().list(prefix)) {
            return objects.map(ObjectInfo::key).toList();
        }
    }

    /** At start: the jobs of owned databases that were running when the engine stopped are failed. */
    public void failInterrupted() {
        catalog.view().databases().stream().filter(db -> owned(db.id())).forEach(events::failInterrupted);
    }

    /** At start: the jobs of owned databases asked for while the engine was down (or before it stopped) are started. */
    public void startQueued() {
        catalog.view().databases().stream().filter(db -> owned(db.id())).forEach(events::startQueued);
    }

    @Override
    public void close() {
        Leases l = leases;
        if (l != null) {
            l.close(); // after the streams stopped: the leases are released for the other nodes at once
        }
        livePositions.close();
        jobs.close();
    }
}
