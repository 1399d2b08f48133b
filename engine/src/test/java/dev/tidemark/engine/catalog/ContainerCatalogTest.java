package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.Policy;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.PostgreSQLContainer;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/** The catalog on a PostgreSQL container and publishing to a Kafka container; runs only where a Docker engine exists. */
@Testcontainers(disabledWithoutDocker = true)
class ContainerCatalogTest {
    @Container
    static final PostgreSQLContainer<?> POSTGRES = new PostgreSQLContainer<>("postgres:16");
    @Container
    static final KafkaContainer KAFKA = new KafkaContainer("apache/kafka:4.1.0");

    @Test
    void eventsAreStoredInPostgresqlAndPublishedToKafka(@TempDir Path dir) {
        CatalogSettings settings = new CatalogSettings(dir, POSTGRES.getJdbcUrl(), POSTGRES.getUsername(), POSTGRES.getPassword(),
                KAFKA.getBootstrapServers(), "tidemark.events", Clock.systemUTC());
        try (Catalog catalog = Catalog.open(settings)) {
            catalog.send(new Commands.RegisterDatabase("shop", "postgresql://postgres@db:5432/postgres", "/pg", null, Policy.defaults(),
                    Instant.now()), "alice");
            catalog.send(new Commands.RequestBaseBackup("shop", "b1", "manual", Instant.now()), "alice");
        }
        try (Catalog reopened = Catalog.open(settings)) {
            assertThat(reopened.view().database("shop").orElseThrow().baseBackups()).hasSize(1);
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, KAFKA.getBootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "test");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<ConsumerRecord<String, String>> seen = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of("tidemark.events"));
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (seen.size() < 2 && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(500)).forEach(seen::add);
            }
        }
        assertThat(seen).hasSizeGreaterThanOrEqualTo(2).allSatisfy(r -> assertThat(r.key()).isEqualTo("shop"));
    }
}
