package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.AggregateScenarios.Scenario;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.testing.PostgresCluster;
import org.axonframework.eventhandling.GenericDomainEventMessage;
import org.axonframework.eventsourcing.eventstore.DomainEventStream;
import org.axonframework.modelling.command.ConcurrencyException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The aggregate's scenarios through the real catalog, on the embedded store and on PostgreSQL: the given events are
 * appended to the store, the command goes through the command bus, and the events stored after it are compared. A
 * refusal appends nothing, and a concurrent append surfaces as a concurrency conflict.
 */
class ProtectedDatabaseOnStoresTest {
    private static PostgresCluster postgres;
    private static int databases;

    @BeforeAll
    static void start() {
        postgres = PostgresCluster.start();
    }

    @AfterAll
    static void stop() {
        postgres.close();
    }

    static Stream<Arguments> scenarios() {
        return Stream.of("embedded", "postgresql").flatMap(store -> AggregateScenarios.all().stream().map(s -> Arguments.of(store, s)));
    }

    private static CatalogSettings settings(String store, Path dir) {
        if (store.equals("embedded")) {
            return new CatalogSettings(dir, null, null, null, null, null, Clock.systemUTC());
        }
        String name = "scenario" + (++databases);
        postgres.execute("create database " + name);
        return new CatalogSettings(null, "jdbc:postgresql://127.0.0.1:" + postgres.port() + "/" + name, "postgres", null, null, null,
                Clock.systemUTC());
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("scenarios")
    void decides(String store, Scenario s, @TempDir Path dir) {
        try (Catalog catalog = Catalog.open(settings(store, dir))) {
            for (int i = 0; i < s.given().size(); i++) {
                DatabaseEvent e = s.given().get(i);
                catalog.eventStore().publish(new GenericDomainEventMessage<>("ProtectedDatabase", e.databaseId(), i, e));
            }
            Object result = null;
            RuntimeException failure = null;
            try {
                result = catalog.send(s.command(), "test");
            } catch (RuntimeException e) {
                failure = e;
            }
            List<Object> appended = new ArrayList<>();
            DomainEventStream stream = catalog.eventStore().readEvents("db", s.given().size());
            stream.asStream().forEach(m -> appended.add(m.getPayload()));
            if (s.refusal() != null) {
                assertThat(failure).as("a refusal").isInstanceOf(CatalogRejection.class);
                if (s.message() != null) {
                    assertThat(failure).hasMessageContaining(s.message());
                }
                assertThat(appended).as("a refusal appends nothing").isEmpty();
            } else {
                assertThat(failure).as("no refusal").isNull();
                assertThat(appended).containsExactlyElementsOf(s.events());
                if (s.result() != null) {
                    assertThat(result).isEqualTo(s.result());
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"embedded", "postgresql"})
    void aConcurrentAppendIsAConcurrencyConflict(String store, @TempDir Path dir) {
        try (Catalog catalog = Catalog.open(settings(store, dir))) {
            catalog.eventStore().publish(new GenericDomainEventMessage<>("ProtectedDatabase", "db", 0, AggregateScenarios.registered()));
            catalog.eventStore().publish(new GenericDomainEventMessage<>("ProtectedDatabase", "db", 1,
                    new DatabaseEvent.OwnerAssigned("db", "node-a", AggregateScenarios.T)));
            // another writer that loaded the aggregate at the same version appends the same sequence number
            assertThatThrownBy(() -> catalog.eventStore().publish(new GenericDomainEventMessage<>("ProtectedDatabase", "db", 1,
                    new DatabaseEvent.OwnerAssigned("db", "node-b", AggregateScenarios.T))))
                    .isInstanceOf(ConcurrencyException.class);
            assertThat(catalog.eventStore().readEvents("db", 0).asStream().count()).isEqualTo(2);
        }
    }
}
