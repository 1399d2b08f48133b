package dev.tidemark.engine.recovery;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.SchemaLock;
import dev.tidemark.engine.config.JvmOption;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Consumer;

/**
 * Which catalog's engines write the repository, and the fence that keeps the engines of a second catalog from writing
 * beside them. Every catalog has an id of its own (nodes of a shared catalog share it); the repository's writer record
 * names the catalog that writes it, renewed by a heartbeat of its engines every few seconds.
 * <p>
 * At start an engine takes the record when it is absent or its own catalog's. The record of another catalog is taken
 * only by an engine whose catalog is empty (a new host of a lost engine, about to recover its catalog from the
 * repository) or was recovered from that catalog's repository, and only once that writer is quiet: stopped cleanly, or
 * its heartbeat unchanged for the quiet time as this engine watches it (its own clock, no comparison of clocks). An
 * engine whose catalog holds databases and finds another catalog's record was taken over (an old host come back) and is
 * refused, nothing written.
 * <p>
 * A running engine re-reads the record before each heartbeat: once it names another catalog, the engine stops writing
 * for good ({@link #onSuperseded}). It also counts the repository as its own only until three quarters of the quiet
 * time after the start of its last successful heartbeat, so that an engine cut off from the repository (or frozen) has
 * stopped writing before another may take over.
 */
public final class WriterFence implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WriterFence.class);
    private static final String TABLE = "tdm_catalog_identity";
    private static final String FIRST_LINE = "Tidemark repository: the catalog whose engines write it";

    /**
     * What the writer record says; quiet is the quiet time its writer counts with (null in a record without it), text the
     * record as read, what a watcher compares.
     */
    record Record(String catalog, String node, Instant at, boolean stopped, Duration quiet, String text) {
        String describe() {
            return "node " + node + " of catalog " + catalog + (stopped ? ", stopped" : ", heartbeat") + " at " + at;
        }
    }

    /** What a start does about the record it found. */
    enum Decision {
        /** No record, or this catalog's: the engine writes. */
        TAKE,
        /** Another catalog's, stopped cleanly, and this catalog may succeed it: the engine writes. */
        TAKE_OVER,
        /** Another catalog's, running as last written: taken over only once it stays quiet. */
        TAKE_OVER_WHEN_QUIET,
        /** Another catalog's, and this catalog holds databases of its own time: it was taken over and must not write. */
        REFUSE_SUPERSEDED
    }

    /** The decision, a plain function of what the catalog and the repository say. */
    static Decision decide(Optional<Record> found, String catalog, boolean catalogHoldsDatabases, Optional<String> succeeds) {
        if (found.isEmpty() || found.get().catalog().equals(catalog)) {
            return Decision.TAKE;
        }
        if (catalogHoldsDatabases && !succeeds.equals(Optional.of(found.get().catalog()))) {
            return Decision.REFUSE_SUPERSEDED;
        }
        return found.get().stopped() ? Decision.TAKE_OVER : Decision.TAKE_OVER_WHEN_QUIET;
    }

    /**
     * Quiet time: JVM option -Dtidemark.writer-quiet-seconds, 30 s by default (a takeover after a kill within about 30 s), at
     * least 3. A watcher waits the longer of its own and the one the writer's record names.
     */
    public static Duration quietTime() {
        return JvmOption.seconds("tidemark.writer-quiet-seconds", 30L, 3L);
    }

    /**
     * What {@link #check} found, taken by {@link #take} once the catalog is settled: recovered where it was empty, and where
     * it takes over from another catalog with databases of its own (recovered before, by tidemark catalog recover), brought
     * up to date with what that catalog's engines recorded since ({@link #catchUp}).
     */
    public record Claim(Repository repository, String catalog, Optional<Record> seen, Duration quiet, boolean catchUp) {
        /** Writes the record and starts the heartbeat; refused when another writer began since the check. */
        public WriterFence take(String nodeId) {
            Optional<Record> now = read(repository);
            if (now.isPresent() && !now.get().catalog().equals(catalog) && !now.get().stopped()
                    && !(seen.isPresent() && seen.get().text().equals(now.get().text()))) {
                throw new IllegalStateException(live(repository, now.get()));
            }
            WriterFence fence = new WriterFence(repository, catalog, nodeId, quiet, seen);
            long started = System.nanoTime();
            try {
                fence.write(false);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the writer record of repository " + repository.store().describe()
                        + ": " + e.getMessage() + "; nothing was started: start again when the repository answers", e);
            }
            fence.renewed(started);
            if (seen.isPresent() && !seen.get().catalog().equals(catalog)) {
                LOG.warn("repository {}: taken over from {}; this engine's catalog {} writes it now", repository.store().describe(),
                        seen.get().describe(), catalog);
            }
            fence.heartbeat.start();
            return fence;
        }
    }

    private final Repository repository;
    private final String catalog;
    private final String nodeId;
    private final Duration quiet;
    private final Thread heartbeat;
    private final Optional<Record> previous; // the record this engine's start replaced
    private volatile long validUntil;
    private volatile String superseded;
    private volatile Consumer<String> listener = reason -> { };
    private volatile boolean closed;

    private WriterFence(Repository repository, String catalog, String nodeId, Duration quiet, Optional<Record> previous) {
        this.repository = repository;
        this.previous = previous;
        this.catalog = catalog;
        this.nodeId = nodeId;
        this.quiet = quiet;
        this.heartbeat = Thread.ofPlatform().daemon().name("repository-writer").unstarted(this::run);
    }

    /**
     * The check at start, before the catalog is recovered: refuses (nothing written) when this catalog was taken over, or
     * when another catalog's engine is writing (after watching it for the quiet time); returns what {@link Claim#take}
     * writes once the catalog is settled.
     */
    public static Claim check(Catalog catalog, Repository repository, Duration quiet) {
        DataSource ds = catalog.dataSource();
        String ours = catalogId(ds);
        Optional<Record> found = read(repository);
        boolean holds = !catalog.view().databases().isEmpty();
        Decision decision = decide(found, ours, holds, succeeds(ds));
        if (decision == Decision.REFUSE_SUPERSEDED) {
            throw new IllegalStateException("repository " + repository.store().describe() + " was taken over by another catalog's"
                    + " engines (" + found.get().describe() + "); this engine's catalog (" + ours + ") is older than what the"
                    + " repository holds and must not write it. Nothing was written to the repository. If the other engine is the one that"
                    + " should run, leave this one stopped; to make this host the writer again, stop the other engine, then start"
                    + " this one with an empty catalog (a new data directory), which it recovers from the repository"
                    + " (docs/recovery-runbook.md, 'The engine's host is lost')");
        }
        if (decision != Decision.TAKE && !holds) {
            succeed(ds, found.get().catalog()); // before the recovery: a recovery killed half way is still this catalog's
        }
        if (decision == Decision.TAKE_OVER_WHEN_QUIET) {
            awaitQuiet(repository, found.get(), ours, quiet);
        }
        return new Claim(repository, ours, found, quiet, decision != Decision.TAKE && holds);
    }

    /**
     * tidemark catalog recover on an empty catalog: the recovered catalog may succeed the repository's writer (once that
     * is quiet, at the engine's start).
     */
    public static void noteRecovery(Catalog catalog, Repository repository) {
        DataSource ds = catalog.dataSource();
        String ours = catalogId(ds);
        Optional<Record> writer = read(repository).filter(r -> !r.catalog().equals(ours));
        if (catalog.view().databases().isEmpty()) {
            writer.ifPresent(r -> succeed(ds, r.catalog()));
        }
        writer.filter(r -> !r.stopped()).ifPresent(r -> LOG.warn("repository {} is written by another catalog's engine right now ({}):"
                + " this catalog recovers its history as of now. An engine started on it takes the repository over only once that"
                + " engine is stopped or quiet, and first brings this catalog up to date with what it recorded meanwhile",
                repository.store().describe(), r.describe()));
    }

    /** A heartbeat begun at started (System.nanoTime) succeeded: the repository is this engine's until 3/4 of the quiet time after. */
    private void renewed(long started) {
        validUntil = started + quiet.toNanos() * 3 / 4;
    }

    /** Whether this engine may write the repository now (the check before every write). */
    public boolean mayWrite() {
        return superseded == null && System.nanoTime() - validUntil < 0;
    }

    /** Why this engine may not write the repository now. */
    public String why() {
        String s = superseded;
        return s != null ? s : "this engine has not renewed its writer record of the repository for "
                + quiet.toSeconds() * 3 / 4 + " s (the repository unreachable, or the engine frozen)";
    }

    /** Once another catalog took the repository over: why. */
    public Optional<String> superseded() {
        return Optional.ofNullable(superseded);
    }

    /** Called once, on the heartbeat thread, when another catalog took the repository over. */
    public void onSuperseded(Consumer<String> listener) {
        this.listener = listener;
    }

    /** The last node of its catalog to stop says so in the record: another catalog's engine may take over without waiting. */
    public void release() {
        close();
        if (superseded != null) {
            return;
        }
        try {
            if (read(repository).map(r -> r.catalog().equals(catalog)).orElse(true)) {
                write(true);
            }
        } catch (IOException | RuntimeException e) {
            LOG.info("repository {}: the writer record could not be marked stopped ({}); another catalog's engine waits {} s before"
                    + " taking over", repository.store().describe(), e.getMessage(), quiet.toSeconds());
        }
    }

    /**
     * A start that failed after it took the record gives it back: another catalog's record as it was (that engine may start
     * again as before), this catalog's marked stopped.
     */
    public void abandon() {
        close();
        try {
            if (previous.isPresent() && !previous.get().catalog().equals(catalog)) {
                repository.putEncoded(repository.layout().writer(),
                        new ByteArrayInputStream(previous.get().text().getBytes(StandardCharsets.UTF_8)));
                LOG.info("repository {}: the start failed, the writer record is given back to {}", repository.store().describe(),
                        previous.get().describe());
            } else {
                write(true);
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("repository {}: the start failed and the writer record could not be given back ({})", repository.store().describe(),
                    e.getMessage());
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            notifyAll(); // not an interrupt: a heartbeat's write in flight ends whole
        }
        try {
            heartbeat.join(5000); // no renewal after the record is marked stopped
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        Duration every = quiet.dividedBy(6);
        boolean failing = false;
        while (true) {
            synchronized (this) {
                try {
                    wait(failing ? 1000 : every.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
                if (closed) {
                    return;
                }
            }
            long started = System.nanoTime();
            try {
                Optional<Record> now = read(repository);
                if (now.isPresent() && !now.get().catalog().equals(catalog)) {
                    supersede(now.get());
                    return;
                }
                write(false);
                renewed(started);
                if (failing) {
                    LOG.info("repository {}: the writer record is renewed again", repository.store().describe());
                }
                failing = false;
            } catch (IOException | RuntimeException e) {
                if (!failing && !closed) {
                    LOG.warn("repository {}: the writer record could not be renewed ({}); writes stop {} s after the last renewal"
                            + " until it is", repository.store().describe(), e.getMessage(), quiet.toSeconds() * 3 / 4);
                }
                failing = true;
            }
        }
    }

    private void supersede(Record taker) {
        superseded = "repository " + repository.store().describe() + " was taken over by another catalog's engines ("
                + taker.describe() + ")";
        LOG.error("{}: this engine stops writing it for good (streams stopped, jobs cancelled). Stop this engine: its catalog is"
                + " no longer the repository's (docs/recovery-runbook.md, 'The engine's host is lost')", superseded);
        listener.accept(superseded);
    }

    private void write(boolean stopped) throws IOException {
        write(repository, catalog, nodeId, stopped, quiet);
    }

    /** Writes the writer record: the catalog whose engines write the repository, the node, now, running or stopped. */
    static void write(Repository repository, String catalog, String nodeId, boolean stopped, Duration quiet) throws IOException {
        String text = FIRST_LINE + "\ncatalog " + catalog + "\nnode " + nodeId + "\nat " + Instant.now() + "\nstate "
                + (stopped ? "stopped" : "running") + "\nquiet " + quiet.toSeconds() + "\n";
        repository.putEncoded(repository.layout().writer(), new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
    }

    /** Watches another catalog's running record for the quiet time; refuses the start when it changes. */
    private static void awaitQuiet(Repository repository, Record seen, String ours, Duration own) {
        // the writer's own quiet time when it is longer: its heartbeats may be that far apart
        Duration quiet = seen.quiet() != null && seen.quiet().compareTo(own) > 0 ? seen.quiet() : own;
        LOG.warn("repository {} was last written by {}: this engine takes it over once that writer has been quiet for {} s; an"
                + " engine still writing there refuses this start", repository.store().describe(), seen.describe(), quiet.toSeconds());
        long deadline = System.nanoTime() + quiet.toNanos();
        while (System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(Math.max(1, Math.min(1000, (deadline - System.nanoTime()) / 1_000_000)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for repository " + repository.store().describe()
                        + "'s writer to be quiet; nothing was written");
            }
            Optional<Record> now = read(repository);
            if (now.isEmpty() || now.get().stopped() || now.get().catalog().equals(ours)) {
                return; // released, or taken by another node of this catalog
            }
            if (!now.get().text().equals(seen.text())) {
                throw new IllegalStateException(live(repository, now.get()));
            }
        }
    }

    private static String live(Repository repository, Record writer) {
        return "another Tidemark engine writes repository " + repository.store().describe() + " right now (" + writer.describe()
                + "): engines with separate catalogs must never write one repository. Nothing was written. If its host is the"
                + " one being replaced, stop that engine and make sure it cannot come back, then start this one again; if it is"
                + " the one that should run, leave this one stopped (docs/recovery-runbook.md, 'The engine's host is lost')";
    }

    static Optional<Record> read(Repository repository) {
        String object = repository.layout().writer();
        String text;
        try {
            if (repository.store().stat(object).isEmpty()) {
                return Optional.empty();
            }
            try (InputStream in = repository.openDecoded(object)) {
                text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the writer record " + object + " of repository "
                    + repository.store().describe() + ": " + e.getMessage() + "; start again when the repository answers", e);
        }
        String catalog = null;
        String node = "?";
        Instant at = null;
        boolean stopped = false;
        Duration quiet = null;
        for (String line : text.split("\n")) {
            int space = line.indexOf(' ');
            String value = space < 0 ? "" : line.substring(space + 1).trim();
            switch (space < 0 ? line : line.substring(0, space)) {
                case "catalog" -> catalog = value;
                case "node" -> node = value;
                case "at" -> at = Instant.parse(value);
                case "state" -> stopped = value.equals("stopped");
                case "quiet" -> quiet = value.matches("\\d{1,9}") ? Duration.ofSeconds(Long.parseLong(value)) : null;
                default -> { }
            }
        }
        if (!text.startsWith(FIRST_LINE) || catalog == null || at == null) {
            throw new IllegalStateException("the writer record " + object + " of repository " + repository.store().describe()
                    + " is not one Tidemark writes; move it aside and start again");
        }
        return Optional.of(new Record(catalog, node, at, stopped, quiet, text));
    }

    /** This catalog's id, made at its first start (the first row wins among nodes starting together on a shared catalog). */
    static String catalogId(DataSource ds) {
        // under the schema lock: nodes starting together on a new shared PostgreSQL catalog would race on the create
        try (SchemaLock lock = SchemaLock.acquire(ds); Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("create table if not exists " + TABLE
                    + " (singleton int primary key, id varchar(64) not null, succeeds varchar(64))");
            try (ResultSet r = st.executeQuery("select id from " + TABLE)) {
                if (r.next()) {
                    return r.getString(1);
                }
            }
            String id = UUID.randomUUID().toString();
            try (PreparedStatement insert = c.prepareStatement("insert into " + TABLE + " (singleton, id) values (1, ?)")) {
                insert.setString(1, id);
                insert.executeUpdate();
            }
            return id;
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read or record the catalog's id: " + e.getMessage(), e);
        }
    }

    private static Optional<String> succeeds(DataSource ds) {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet r = st.executeQuery("select succeeds from " + TABLE)) {
            return r.next() ? Optional.ofNullable(r.getString(1)) : Optional.empty();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the catalog's id: " + e.getMessage(), e);
        }
    }

    private static void succeed(DataSource ds, String previous) {
        try (Connection c = ds.getConnection(); PreparedStatement st = c.prepareStatement("update " + TABLE + " set succeeds = ?")) {
            st.setString(1, previous);
            st.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot record in the catalog which catalog it succeeds: " + e.getMessage(), e);
        }
    }
}
