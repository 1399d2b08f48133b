package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.testing.KafkaBroker;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/** Every catalog event reaches Kafka, keyed by database id, once per event id, also across a broker outage. */
class KafkaPublicationTest {

    @Test
    void eventsArePublishedAndAnOutageOnlyDelaysThem(@TempDir Path dir) throws Exception {
        try (KafkaBroker broker = KafkaBroker.launch();
             Catalog catalog = Catalog.open(new CatalogSettings(dir, null, null, null, broker.bootstrap(), "test.events", Clock.systemUTC()))) {
            catalog.send(new Commands.RegisterDatabase("shop", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null,
                    Policy.defaults(), Instant.now()), "alice");
            catalog.send(new Commands.RequestDump("shop", "d1", List.of(), "manual", Instant.now()), "alice");
            Map<String, ConsumerRecord<String, String>> seen = new HashMap<>();
            try (KafkaConsumer<String, String> consumer = consumer(broker)) {
                consumer.subscribe(List.of("test.events"));
                poll(consumer, seen, 2);
                broker.stop();
                catalog.send(new Commands.FailDump("shop", "d1", "boom", Instant.now()), "worker");
                catalog.send(new Commands.RequestBaseBackup("shop", "b1", "manual", Instant.now()), "bob");
                Thread.sleep(1500);
                broker.start();
                poll(consumer, seen, 4);
            }
            assertThat(seen).hasSize(4);
            assertThat(arrival).as("in order per database").isSorted();
            assertThat(seen.values()).allSatisfy(r -> assertThat(r.key()).isEqualTo("shop"));
            assertThat(seen.values()).extracting(r -> new String(r.headers().lastHeader("event-type").value(), StandardCharsets.UTF_8))
                    .containsExactlyInAnyOrder("DatabaseRegistered", "DumpRequested", "DumpFailed", "BaseBackupRequested");
            assertThat(seen.values()).anySatisfy(r -> assertThat(r.value()).contains("\"actor\":\"bob\"", "\"type\":\"BaseBackupRequested\"",
                    "\"schemaVersion\":1"));
            assertThat(seen.values()).noneSatisfy(r -> assertThat(r.value()).contains("password"));
        }
    }

    private static KafkaConsumer<String, String> consumer(KafkaBroker broker) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "test");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    /** Polls until count distinct event ids were seen; duplicates (at-least-once) are folded by event id. */
    private final List<Long> arrival = new java.util.ArrayList<>();

    private void poll(KafkaConsumer<String, String> consumer, Map<String, ConsumerRecord<String, String>> seen, int count) {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (seen.size() < count && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                if (seen.put(new String(r.headers().lastHeader("event-id").value(), StandardCharsets.UTF_8), r) == null) {
                    arrival.add(Long.parseLong(r.value().replaceAll(".*\"sequence\":(\\d+).*", "$1")));
                }
            }
        }
        assertThat(seen).as("events published").hasSize(count);
    }
}
