package dev.tidemark.engine.recovery;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.config.RepositoryFactory;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogSettings;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.catalog.mirror.EventObjects;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.MasterKey;
import org.axonframework.eventhandling.GenericDomainEventMessage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Catalog recovery on catalogs seeded with registration events, without PostgreSQL. Repositories that are not this
 * engine's to recover from or write into (another installation's, one database's objects under two ids) are refused with
 * a message saying what and what to do, and neither the catalog nor the repository changes; a recovery killed half-way
 * finishes at the next start with the catalog one uninterrupted run gives.
 */
class SeededRecoveryTest {
    @TempDir
    Path tmp;

    private EngineConfig config(String data, String repo) throws IOException {
        Path key = tmp.resolve("master.key");
        if (!Files.exists(key)) {
            MasterKey.generate().writeTo(key);
        }
        EngineConfig c = EngineConfig.singleHost(tmp.resolve(data), tmp.resolve(repo), key);
        return new EngineConfig(c.dataDirectory(), null, null, null, c.repository(), c.masterKeyFile(), false, "zstd", 3, null,
                null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
    }

    private Catalog catalog(String data) throws IOException {
        Files.createDirectories(tmp.resolve(data));
        return Catalog.open(new CatalogSettings(tmp.resolve(data).resolve("catalog"), null, null, null, null, null, Clock.systemUTC()));
    }

    /** An installation with these databases registered (id to data directory), their events mirrored into its repository. */
    private void installation(String data, String repo, Map<String, String> databases) throws IOException {
        try (Repository repository = RepositoryFactory.open(config(data, repo)); Catalog catalog = catalog(data)) {
            Installation.claim(catalog, repository, Installation.check(catalog, repository));
            databases.forEach((id, pgdata) -> catalog.importEvents(id, List.of(new GenericDomainEventMessage<>("ProtectedDatabase",
                    id, 0, new DatabaseEvent.DatabaseRegistered(id, "postgresql://127.0.0.1:5432/postgres", pgdata, null,
                    Policy.defaults(), Instant.now()), Map.of("actor", "alice"), UUID.randomUUID().toString(), Instant.now()))));
            catalog.mirrorTo(repository, Duration.ofMillis(50));
        } // closing the catalog writes what the mirror has not yet
    }

    /** Every file under a directory with its bytes' hash: what "nothing changed" is checked against. */
    private static Map<String, Integer> contents(Path root) throws IOException {
        Map<String, Integer> all = new TreeMap<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.filter(Files::isRegularFile).toList()) {
                all.put(root.relativize(p).toString(), java.util.Arrays.hashCode(Files.readAllBytes(p)));
            }
        }
        return all;
    }

    private long events(String data, String id) throws IOException {
        try (Catalog catalog = catalog(data)) {
            return catalog.eventCount(id);
        }
    }

    @Test
    void anEngineWithDatabasesIsRefusedOnAnotherInstallationsRepositoryAndAnEmptyOneTakesItOver() throws Exception {
        installation("data-a", "repo-a", Map.of("shop", "/srv/shop"));
        installation("data-b", "repo-b", Map.of("crm", "/srv/crm"));
        Map<String, Integer> repoB = contents(tmp.resolve("repo-b"));

        assertThatThrownBy(() -> Engine.start(config("data-a", "repo-b")))
                .hasMessageContaining("belongs to another Tidemark installation").hasMessageContaining("databases: crm")
                .hasMessageContaining("with databases shop").hasMessageContaining("Nothing was read or written");
        assertThatThrownBy(() -> Engine.recoverCatalog(config("data-a", "repo-b")))
                .hasMessageContaining("belongs to another Tidemark installation");
        assertThat(contents(tmp.resolve("repo-b"))).isEqualTo(repoB);
        assertThat(events("data-a", "crm")).isZero();

        // its own repository passes; a new, empty catalog (a lost host's successor) takes repo-b over and recovers crm
        try (Repository own = RepositoryFactory.open(config("data-a", "repo-a")); Catalog a = catalog("data-a")) {
            assertThat(Installation.check(a, own)).isEqualTo(Installation.catalogId(a.dataSource()).orElseThrow());
        }
        assertThat(Engine.recoverCatalog(config("data-new", "repo-b")).databases()).extracting(d -> d.id())
                .containsExactly("crm");
        try (Catalog taken = catalog("data-new"); Catalog b = catalog("data-b")) {
            assertThat(Installation.catalogId(taken.dataSource())).isEqualTo(Installation.catalogId(b.dataSource())).isPresent();
        }
    }

    @Test
    void oneDataDirectoryUnderTwoIdsIsRefusedAndNothingIsRecovered() throws Exception {
        // an engine that lost its catalog before recovery existed registered the same directory again under a new id
        installation("data-1", "repo", Map.of("shop", "/srv/shop", "shop2", "/srv/shop/", "crm", "/srv/crm"));
        Map<String, Integer> repo = contents(tmp.resolve("repo"));
        PostgresCluster.deleteTree(tmp.resolve("data-1"));

        assertThatThrownBy(() -> Engine.recoverCatalog(config("data-2", "repo")))
                .hasMessageContaining("data directory /srv/shop is registered under 2 ids, shop and shop2 (db/shop/, db/shop2/)")
                .hasMessageContaining("Nothing was recovered or changed").hasMessageContaining("Move the objects of the id");
        assertThatThrownBy(() -> Engine.start(config("data-2", "repo"))).hasMessageContaining("registered under 2 ids");
        assertThat(events("data-2", "crm")).isZero();
        assertThat(contents(tmp.resolve("repo"))).isEqualTo(repo);

        // a database's event objects copied under another id: refused the same way, before anything is imported
        PostgresCluster.deleteTree(tmp.resolve("repo/db/shop2"));
        Files.createDirectories(tmp.resolve("repo/db/copy/events"));
        try (Stream<Path> batches = Files.list(tmp.resolve("repo/db/shop/events"))) {
            for (Path b : batches.toList()) {
                Files.copy(b, tmp.resolve("repo/db/copy/events").resolve(b.getFileName()));
            }
        }
        assertThatThrownBy(() -> Engine.recoverCatalog(config("data-2", "repo")))
                .hasMessageContaining("holds events of database shop, not of copy").hasMessageContaining("Nothing was recovered");
        assertThat(events("data-2", "crm")).isZero();
    }

    @Test
    void aRecoveryKilledHalfWayFinishesAtTheNextStartAsOneUninterruptedRun() throws Exception {
        installation("data-1", "repo", Map.of("shop", "/srv/shop", "crm", "/srv/crm"));
        PostgresCluster.deleteTree(tmp.resolve("data-1"));
        try (Repository repository = RepositoryFactory.open(config("whole", "repo")); Catalog whole = catalog("whole")) {
            assertThat(CatalogRecovery.recover(whole, repository, RepositoryContents.scan(repository)).complete()).isTrue();
        }
        // what a kill leaves: the marker set, the first database's transaction committed, the second's not
        try (Repository repository = RepositoryFactory.open(config("killed", "repo")); Catalog killed = catalog("killed")) {
            CatalogRecovery.mark(killed.dataSource(), true);
            killed.importEvents("crm", EventObjects.read(repository, Catalog.json(), "crm").events().stream()
                    .map(e -> e.toMessage(Catalog.json())).toList());
        }
        try (Repository repository = RepositoryFactory.open(config("killed", "repo"))) {
            Catalog started = CatalogRecovery.atStart(catalog("killed"), repository, true, false, () -> {
                try {
                    return catalog("killed");
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            try (started; Catalog whole = catalog("whole")) {
                for (String id : List.of("shop", "crm")) {
                    assertThat(started.events(id, 0, 100).events()).isEqualTo(whole.events(id, 0, 100).events()).isNotEmpty();
                }
                assertThat(started.view().databases()).extracting(d -> d.id()).containsExactlyInAnyOrder("shop", "crm");
            }
        }
        // finished: the next start finds no marker and a catalog that holds databases, and leaves it as it is
        try (Repository repository = RepositoryFactory.open(config("killed", "repo")); Catalog again = catalog("killed")) {
            assertThat(CatalogRecovery.atStart(again, repository, false, false, () -> {
                throw new AssertionError("not reopened: nothing to recover");
            })).isSameAs(again);
        }
    }
}
