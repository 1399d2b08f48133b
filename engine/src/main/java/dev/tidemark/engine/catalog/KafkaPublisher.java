package dev.tidemark.engine.catalog;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.axonframework.config.ProcessingGroup;
import org.axonframework.eventhandling.DomainEventMessage;
import org.axonframework.eventhandling.EventHandler;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Publishes every domain event to Kafka, keyed by database id, with the event id, type and actor in headers. Run by a
 * tracking processor whose token lives in the catalog database: an event counts as handled only once Kafka has
 * acknowledged it, so an outage delays publication and loses nothing (consumers deduplicate on the event id).
 */
@ProcessingGroup(KafkaPublisher.GROUP)
final class KafkaPublisher implements AutoCloseable {
    static final String GROUP = "kafka-publisher";
    /** Version of the message envelope and payloads; raised when a field changes meaning or disappears. */
    static final int SCHEMA_VERSION = 1;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(KafkaPublisher.class);
    /** While Kafka does not acknowledge, how often the operator is told. */
    private static final java.time.Duration WARN_EVERY = java.time.Duration.ofMinutes(5);
    private final KafkaProducer<String, byte[]> producer;
    private final String topic;
    private final ObjectMapper json;
    /** When publications began to fail (System.nanoTime), 0 while they succeed; and when that was last logged. */
    private volatile long failingSince;
    private volatile long lastWarning;

    KafkaPublisher(String bootstrap, String topic, ObjectMapper json) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "tidemark-catalog");
        // an unreachable broker is tried again at most every 10 s, not every second
        p.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "10000");
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        this.topic = topic == null || topic.isBlank() ? "tidemark.events" : topic;
        this.json = json;
    }

    @EventHandler
    void on(DatabaseEvent event, DomainEventMessage<?> message) throws Exception {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("eventId", message.getIdentifier());
        body.put("type", event.getClass().getSimpleName());
        body.put("schemaVersion", SCHEMA_VERSION);
        body.put("databaseId", event.databaseId());
        body.put("sequence", message.getSequenceNumber());
        body.put("timestamp", message.getTimestamp().toString());
        Object actor = message.getMetaData().get("actor");
        body.put("actor", actor);
        body.put("payload", event);
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, event.databaseId(), json.writeValueAsBytes(body));
        record.headers().add("event-id", message.getIdentifier().getBytes(StandardCharsets.UTF_8));
        record.headers().add("event-type", event.getClass().getSimpleName().getBytes(StandardCharsets.UTF_8));
        if (actor != null) {
            record.headers().add("actor", actor.toString().getBytes(StandardCharsets.UTF_8));
        }
        try {
            producer.send(record).get(30, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            String why = e.getCause() != null ? e.getCause().getMessage() : e.getMessage();
            long now = System.nanoTime();
            if (failingSince == 0 || now - lastWarning > WARN_EVERY.toNanos()) {
                // one line for the operator now and then (the Kafka client's own warnings are turned down in the
                // server's logging): the events stay in the catalog and go out in order once Kafka answers
                LOG.warn("Kafka does not acknowledge the catalog's events ({}); they are kept and published in order when it"
                        + " answers", why);
                lastWarning = now;
            }
            if (failingSince == 0) {
                failingSince = now;
            }
            throw new IllegalStateException("Kafka did not acknowledge " + body.get("type") + " of " + event.databaseId()
                    + "; publication is retried: " + why);
        }
        if (failingSince != 0) {
            LOG.info("Kafka acknowledges the catalog's events again, after {} s", (System.nanoTime() - failingSince) / 1_000_000_000L);
            failingSince = 0;
        }
    }


    @Override
    public void close() {
        producer.close(java.time.Duration.ofSeconds(5));
    }
}
