package dev.tidemark.engine.recovery;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.SchemaLock;
import dev.tidemark.engine.catalog.mirror.EventObjects;
import dev.tidemark.engine.catalog.mirror.MirroredEvent;
import dev.tidemark.storage.Repository;
import org.axonframework.eventhandling.DomainEventMessage;
import org.axonframework.eventhandling.GenericDomainEventMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Rebuilds a lost catalog from the repository. At engine start: a catalog without databases on a repository that holds
 * some is recovered (or, when told not to, the start is refused with what the repository holds); a recovery that was
 * interrupted (a row in {@code tdm_catalog_recovery} says so) is finished. Each database's events go in whole, in one
 * transaction, as they were; a database the catalog holds already is left as it is, so running it again changes nothing.
 */
public final class CatalogRecovery {
    private static final Logger LOG = LoggerFactory.getLogger(CatalogRecovery.class);
    private static final String MARKER = "tdm_catalog_recovery";
    private static final String AGGREGATE_TYPE = "ProtectedDatabase";

    private CatalogRecovery() {
    }

    /** What a recovery did, per database. */
    public record Report(List<DatabaseResult> databases) {
        public boolean complete() {
            return databases.stream().allMatch(d -> d.problems().isEmpty());
        }
    }

    /** events: how many the catalog holds of it now; imported: how many this run added; problems: what could not be recovered. */
    public record DatabaseResult(String databaseId, long events, int imported, List<String> problems) {
    }

    /**
     * The check at engine start; returns the catalog to run with (reopened when events were imported, so every view and
     * read model is built from them). catchUp: the catalog takes the repository over from another catalog's engines (it was
     * recovered from the repository before, by tidemark catalog recover): what they recorded since is imported first.
     */
    public static Catalog atStart(Catalog catalog, Repository repository, boolean recover, boolean catchUp, Supplier<Catalog> reopen) {
        DataSource ds = catalog.dataSource();
        boolean unfinished = markerExists(ds);
        if (catchUp && !unfinished) {
            LOG.info("this catalog takes repository {} over from another catalog's engines: importing what they recorded since"
                    + " it was recovered", repository.store().describe());
            Report report;
            try {
                report = recover(catalog, repository, RepositoryContents.scan(repository));
            } catch (IOException e) {
                throw new UncheckedIOException("repository " + repository.store().describe() + " cannot be listed to bring the catalog"
                        + " up to date before taking it over (" + e.getMessage() + "); nothing was started: start again when the"
                        + " repository answers", e);
            }
            if (report.databases().stream().allMatch(d -> d.imported() == 0)) {
                return catalog;
            }
            catalog.close();
            return reopen.get();
        }
        if (!catalog.view().databases().isEmpty() && !unfinished) {
            return catalog;
        }
        RepositoryContents contents;
        try {
            contents = RepositoryContents.scan(repository);
        } catch (IOException e) {
            throw new UncheckedIOException("the catalog is empty and repository " + repository.store().describe()
                    + " cannot be listed to see whether it holds databases to recover (" + e.getMessage() + "); nothing was"
                    + " started: start again when the repository answers", e);
        }
        if (contents.isEmpty()) {
            return catalog;
        }
        if (!recover) {
            throw new IllegalStateException("the catalog " + (unfinished ? "is half recovered" : "is empty") + ", but repository "
                    + repository.store().describe() + " holds " + contents.databases().size() + " databases:\n" + contents.describe()
                    + "\nNothing was started: an engine on an empty catalog would not know them. To recover the catalog from the"
                    + " repository, start with tidemark.catalog.recover-on-start: true (the default); or point the engine at the"
                    + " catalog or the repository it belongs with (docs/recovery-runbook.md, 'The engine's host is lost')");
        }
        LOG.warn("the catalog {}; repository {} holds {} databases: recovering the catalog from it\n{}",
                unfinished ? "was being recovered when the engine stopped" : "is empty", repository.store().describe(),
                contents.databases().size(), contents.describe());
        recover(catalog, repository, contents);
        catalog.close();
        return reopen.get();
    }

    /**
     * Recovers every database of the repository the catalog does not hold whole; see the class comment. Refused before
     * anything is imported when the repository holds one database's objects twice (see {@link #duplicates}).
     */
    public static Report recover(Catalog catalog, Repository repository, RepositoryContents contents) {
        DataSource ds = catalog.dataSource();
        ObjectMapper json = Catalog.json();
        Map<String, Stored> stored = new LinkedHashMap<>();
        List<String> refusals = new ArrayList<>();
        for (String id : contents.databases().keySet()) {
            try {
                stored.put(id, new Stored(EventObjects.read(repository, json, id), null));
            } catch (IOException e) {
                stored.put(id, new Stored(null, e));
            } catch (IllegalStateException e) { // events copied between ids, or written by two engines
                refusals.add(e.getMessage());
            }
        }
        refusals.addAll(duplicates(catalog, repository, stored));
        if (!refusals.isEmpty()) {
            throw new IllegalStateException("the catalog cannot be recovered from repository " + repository.store().describe()
                    + ": it holds objects of one database under two ids, or written by two engines:\n  - "
                    + String.join("\n  - ", refusals) + "\nNothing was recovered or changed. Move the objects of the id that is"
                    + " not wanted aside (out of " + repository.layout().databasesPrefix() + "), then recover again");
        }
        mark(ds, true);
        List<DatabaseResult> results = new ArrayList<>();
        for (Map.Entry<String, Stored> e : stored.entrySet()) {
            results.add(recoverOne(catalog, repository, json, e.getKey(), e.getValue()));
        }
        mark(ds, false);
        for (DatabaseResult r : results) {
            if (r.problems().isEmpty()) {
                LOG.info("recovered {}: {} events ({} imported now)", r.databaseId(), r.events(), r.imported());
            } else {
                LOG.error("{} was not recovered whole ({} events in the catalog): {}", r.databaseId(), r.events(),
                        String.join("; ", r.problems()));
            }
        }
        return new Report(results);
    }

    /** A database's events as the repository holds them, or why they could not be listed. */
    private record Stored(EventObjects.Read read, IOException failure) {
    }

    /**
     * One data directory registered under two ids that are both still registered (by the events; a database the events do
     * not describe is not compared): recovering both would stream and back up one cluster twice, under two slots.
     */
    private static List<String> duplicates(Catalog catalog, Repository repository, Map<String, Stored> stored) {
        Map<Path, List<String>> byDirectory = new TreeMap<>();
        for (Map.Entry<String, Stored> e : stored.entrySet()) {
            if (e.getValue().read() == null) {
                continue;
            }
            String pgdata = null;
            for (MirroredEvent event : e.getValue().read().events()) {
                String type = event.payloadType().substring(event.payloadType().lastIndexOf('$') + 1);
                switch (type) {
                    case "DatabaseRegistered", "ConnectionChanged" -> pgdata = event.payload().path("pgdata").asText(null);
                    case "DatabaseDeregistered" -> pgdata = null;
                    default -> {
                    }
                }
            }
            if (pgdata != null) {
                byDirectory.computeIfAbsent(Path.of(pgdata).normalize(), d -> new ArrayList<>()).add(e.getKey());
            }
        }
        List<String> found = new ArrayList<>();
        byDirectory.forEach((dir, ids) -> {
            if (ids.size() > 1 && !ids.stream().allMatch(id -> catalog.eventCount(id) > 0)) {
                found.add("data directory " + dir + " is registered under " + ids.size() + " ids, " + String.join(" and ", ids)
                        + " (" + ids.stream().map(id -> repository.layout().databasePrefix(id)).collect(Collectors.joining(", "))
                        + "): a cluster is protected once");
            }
        });
        return found;
    }

    private static DatabaseResult recoverOne(Catalog catalog, Repository repository, ObjectMapper json, String id, Stored stored) {
        if (stored.failure() != null) {
            return new DatabaseResult(id, catalog.eventCount(id), 0, List.of("its events cannot be read from the repository ("
                    + stored.failure().getMessage() + "); run the recovery again when the repository answers"));
        }
        EventObjects.Read read = stored.read();
        List<String> problems = new ArrayList<>(read.problems());
        if (read.complete()) {
            List<DomainEventMessage<?>> messages = new ArrayList<>();
            for (MirroredEvent e : read.events()) {
                messages.add(e.toMessage(json));
            }
            int imported = catalog.importEvents(id, messages);
            return new DatabaseResult(id, catalog.eventCount(id), imported, problems);
        }
        if (catalog.eventCount(id) > 0) {
            return new DatabaseResult(id, catalog.eventCount(id), 0, List.of()); // rebuilt by an earlier run
        }
        if (read.events().isEmpty() && read.objects() == 0) {
            problems.add("the repository holds no events of it (written before the event mirror existed, or removed)");
        }
        // from the manifests and WAL objects: what they describe, and what is lost said by name
        ManifestRecovery.Rebuilt rebuilt;
        try {
            rebuilt = ManifestRecovery.rebuild(repository, id, read.events().stream().findFirst(), json);
        } catch (IOException e) {
            problems.add("its manifests and WAL cannot be listed (" + e.getMessage() + "); run the recovery again when the repository answers");
            return new DatabaseResult(id, 0, 0, problems);
        }
        List<DomainEventMessage<?>> messages = new ArrayList<>();
        Instant now = Instant.now();
        for (int i = 0; i < rebuilt.events().size(); i++) {
            messages.add(new GenericDomainEventMessage<>(AGGREGATE_TYPE, id, i, rebuilt.events().get(i), Map.of("actor", "recovery"),
                    UUID.randomUUID().toString(), now));
        }
        setAsideEvents(repository, id); // the mirror writes the rebuilt history afresh
        int imported = catalog.importEvents(id, messages);
        rebuilt.lost().forEach(l -> problems.add("rebuilt from manifests and WAL; not recovered: " + l));
        return new DatabaseResult(id, catalog.eventCount(id), imported, problems);
    }

    /** Moves a database's unusable event batches to events-unrecovered/, kept for a closer look, out of the mirror's way. */
    private static void setAsideEvents(Repository repository, String id) {
        String prefix = repository.layout().eventsPrefix(id);
        String aside = repository.layout().databasePrefix(id) + "events-unrecovered/";
        try (var objects = repository.store().list(prefix)) {
            for (String key : objects.map(o -> o.key()).toList()) {
                try (var in = repository.store().get(key)) {
                    repository.store().put(aside + key.substring(prefix.length()), in);
                }
                repository.store().delete(key);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot set aside the unusable event objects of " + id + ": " + e.getMessage(), e);
        }
    }

    private static boolean markerExists(DataSource ds) {
        try (SchemaLock lock = SchemaLock.acquire(ds); Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("create table if not exists " + MARKER + " (started_at varchar(64) not null)");
            try (ResultSet r = st.executeQuery("select count(*) from " + MARKER)) {
                r.next();
                return r.getLong(1) > 0;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the catalog's recovery marker: " + e.getMessage(), e);
        }
    }

    static void mark(DataSource ds, boolean running) {
        try (SchemaLock lock = SchemaLock.acquire(ds); Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("create table if not exists " + MARKER + " (started_at varchar(64) not null)");
            st.executeUpdate(running ? "insert into " + MARKER + " values ('" + Instant.now() + "')" : "delete from " + MARKER);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot write the catalog's recovery marker: " + e.getMessage(), e);
        }
    }
}
