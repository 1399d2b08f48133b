package dev.tidemark.engine.operations;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/** A page of a database's audit log; next is the sequence number to ask for next (-1 at the end). */
public record EventPage(List<Event> events, long next) {

    /** One event: its sequence number in the database's stream, type, time, actor and content. */
    public record Event(long sequence, String id, String type, Instant time, String actor, Map<String, Object> payload) {
    }
}
