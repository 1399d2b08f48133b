package dev.tidemark.engine.recovery;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.SchemaLock;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.storage.Repository;

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
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;

/**
 * Which engine installation a catalog and a repository belong to: an id the catalog keeps (one row, shared by every node
 * of a shared catalog) and the repository keeps (its installation record). An engine whose catalog holds databases is
 * refused, before anything is written, on a repository of another installation; an empty catalog takes the repository's
 * id (a new host of a lost engine), and whichever side has no id yet gets the other's (a first start, a release before
 * the record existed, a recovery killed before it recorded the id) as long as every database the catalog holds is in
 * the repository.
 */
public final class Installation {
    private static final String TABLE = "tdm_installation";
    private static final String FIRST_LINE = "Tidemark repository: the engine installation that writes it";

    private Installation() {
    }

    /**
     * The check before recovery or any write: refuses a repository of another installation when the catalog holds
     * databases. Returns the id both will carry (written by {@link #claim} once the catalog is settled).
     */
    public static String check(Catalog catalog, Repository repository) {
        createTable(catalog.dataSource());
        Optional<String> ours = catalogId(catalog.dataSource());
        Optional<String> theirs = repositoryId(repository);
        boolean holdsDatabases = !catalog.view().databases().isEmpty();
        if (theirs.isPresent() && holdsDatabases && !theirs.equals(ours)) {
            Set<String> held;
            try {
                held = RepositoryContents.scan(repository).databases().keySet();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list repository " + repository.store().describe() + " to compare it with"
                        + " the catalog (" + e.getMessage() + "); nothing was started: start again when it answers", e);
            }
            // a catalog without an id whose every database is in the repository: recovered from it (killed before it
            // claimed the id), or this installation's from before installation ids
            if (ours.isEmpty() && catalog.view().databases().stream().allMatch(d -> held.contains(d.id()))) {
                return theirs.get();
            }
            String repositoryDatabases = String.join(", ", held);
            throw new IllegalStateException("repository " + repository.store().describe() + " belongs to another Tidemark"
                    + " installation (" + theirs.get() + ", databases: " + (repositoryDatabases.isEmpty() ? "none" : repositoryDatabases)
                    + "); this engine's catalog is installation " + ours.orElse("(none recorded)")
                    + " with databases " + catalog.view().databases().stream().map(DatabaseHistory::id).collect(Collectors.joining(", "))
                    + ". Nothing was read or written: an engine writes only into its own installation's repository. Point"
                    + " tidemark.repository at this installation's repository, or start on an empty catalog (a new data directory)"
                    + " to take that repository over (docs/recovery-runbook.md, 'The engine's host is lost')");
        }
        return theirs.or(() -> ours).orElseGet(() -> UUID.randomUUID().toString());
    }

    /**
     * Records the id in the catalog where it has none or another (an empty catalog taking the repository's), then in the
     * repository where it lacks the catalog's. Nodes starting together on a new shared catalog agree: the first row wins.
     */
    public static void claim(Catalog catalog, Repository repository, String id) {
        DataSource ds = catalog.dataSource();
        Optional<String> recorded = catalogId(ds);
        if (!recorded.equals(Optional.of(id))) {
            try (Connection c = ds.getConnection();
                 PreparedStatement st = c.prepareStatement(recorded.isPresent()
                         ? "update " + TABLE + " set id = ?, since = ? where singleton = 1"
                         : "insert into " + TABLE + " (id, since, singleton) values (?, ?, 1)")) {
                st.setString(1, id);
                st.setString(2, Instant.now().toString());
                st.executeUpdate();
            } catch (SQLException e) {
                if (catalogId(ds).isEmpty()) { // not another node's row first: a real failure
                    throw new IllegalStateException("cannot record the installation id in the catalog: " + e.getMessage(), e);
                }
            }
        }
        id = catalogId(ds).orElseThrow();
        if (!repositoryId(repository).equals(Optional.of(id))) {
            String text = FIRST_LINE + "\ninstallation " + id + "\n";
            try {
                repository.putEncoded(repository.layout().installation(), new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the installation record of repository " + repository.store().describe()
                        + ": " + e.getMessage() + "; start again when the repository answers", e);
            }
        }
    }

    /** The catalog's table for the id, made once per start by {@link #check} (before any read of it). */
    private static void createTable(DataSource ds) {
        // under the schema lock: nodes starting together on a new shared PostgreSQL catalog would race on the create
        try (SchemaLock lock = SchemaLock.acquire(ds); Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("create table if not exists " + TABLE + " (singleton int primary key, id varchar(64) not null, since varchar(64) not null)");
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create the catalog's installation table: " + e.getMessage(), e);
        }
    }

    static Optional<String> catalogId(DataSource ds) {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet r = st.executeQuery("select id from " + TABLE)) {
            return r.next() ? Optional.of(r.getString(1)) : Optional.empty();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the catalog's installation id: " + e.getMessage(), e);
        }
    }

    static Optional<String> repositoryId(Repository repository) {
        String object = repository.layout().installation();
        try {
            if (repository.store().stat(object).isEmpty()) {
                return Optional.empty();
            }
            try (InputStream in = repository.openDecoded(object)) {
                for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                    if (line.startsWith("installation ")) {
                        return Optional.of(line.substring("installation ".length()).trim());
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the installation record " + object + " of repository "
                    + repository.store().describe() + ": " + e.getMessage() + "; start again when the repository answers", e);
        }
        throw new IllegalStateException("the installation record " + object + " of repository " + repository.store().describe()
                + " names no installation: it was not written by Tidemark; move it aside and start again");
    }
}
