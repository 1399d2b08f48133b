package dev.tidemark.engine.catalog.mirror;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import org.axonframework.eventhandling.DomainEventMessage;
import org.axonframework.eventhandling.GenericDomainEventMessage;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One catalog event as the repository keeps it: everything the event store held of it (event id, aggregate type and id,
 * sequence number, timestamp, metadata with the actor, payload type and the serialized payload), so a recovered store
 * holds the same event, not a copy of it.
 */
public record MirroredEvent(String eventId, String aggregateType, String databaseId, long sequence, Instant timestamp,
                            String payloadType, JsonNode payload, Map<String, Object> metaData) {

    static MirroredEvent of(DomainEventMessage<?> message, ObjectMapper json) {
        return new MirroredEvent(message.getIdentifier(), message.getType(), message.getAggregateIdentifier(),
                message.getSequenceNumber(), message.getTimestamp(), message.getPayloadType().getName(),
                json.valueToTree(message.getPayload()), new LinkedHashMap<>(message.getMetaData()));
    }

    /** The event as the store held it; fails when the payload type is not a catalog event this engine knows. */
    public DomainEventMessage<DatabaseEvent> toMessage(ObjectMapper json) {
        DatabaseEvent event;
        try {
            Class<?> type = Class.forName(payloadType);
            if (!DatabaseEvent.class.isAssignableFrom(type)) {
                throw new IllegalArgumentException(payloadType + " is not a catalog event");
            }
            event = (DatabaseEvent) json.treeToValue(payload, type);
        } catch (ClassNotFoundException e) {
            throw new IllegalArgumentException("event " + sequence + " of " + databaseId + " has type " + payloadType
                    + ", which this Tidemark does not know: recover with the version that wrote it or a newer one");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("event " + sequence + " of " + databaseId + " cannot be read: " + e.getOriginalMessage());
        }
        if (!databaseId.equals(event.databaseId())) {
            throw new IllegalArgumentException("event " + sequence + " stored under " + databaseId + " belongs to " + event.databaseId());
        }
        return new GenericDomainEventMessage<>(aggregateType, databaseId, sequence, event, metaData, eventId, timestamp);
    }

    public String actor() {
        Object actor = metaData == null ? null : metaData.get("actor");
        return actor == null ? null : actor.toString();
    }
}
