package dev.tidemark.engine.catalog.mirror;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The event batches of a database in the repository ({@code db/{database}/events/{first sequence, 20 digits}}): how a
 * stream of events is cut into batches, and how batches are written and read. A batch holds at most
 * {@value #MAX_EVENTS} events spanning less than an hour; the newest batch of a database is rewritten as it grows (like
 * the partial WAL segment), so a quiet stream does not become one object per event. The cut is a function of the
 * events alone, so writing a database's batches again gives the same objects.
 */
public final class EventObjects {
    static final int MAX_EVENTS = 1000;
    static final Duration MAX_SPAN = Duration.ofHours(1);
    private static final int FORMAT = 1;

    private EventObjects() {
    }

    /** A batch as stored. */
    record Batch(int format, String databaseId, long first, long last, List<MirroredEvent> events) {
    }

    /** Cuts consecutive events into batches: a new one when the current one is full or its first event is an hour old. */
    static List<List<MirroredEvent>> cut(List<MirroredEvent> events) {
        List<List<MirroredEvent>> batches = new ArrayList<>();
        List<MirroredEvent> current = null;
        for (MirroredEvent e : events) {
            if (current == null || current.size() == MAX_EVENTS
                    || !e.timestamp().isBefore(current.get(0).timestamp().plus(MAX_SPAN))) {
                current = new ArrayList<>();
                batches.add(current);
            }
            current.add(e);
        }
        return batches;
    }

    static void write(Repository repository, ObjectMapper json, String databaseId, List<MirroredEvent> batch) throws IOException {
        long first = batch.get(0).sequence();
        byte[] body = json.writeValueAsBytes(new Batch(FORMAT, databaseId, first, batch.get(batch.size() - 1).sequence(), batch));
        repository.putEncoded(repository.layout().eventBatch(databaseId, first), new ByteArrayInputStream(body));
    }

    /** The first sequence number of the newest batch of a database in the repository, or 0 when it has none. */
    static long newestBatchStart(Repository repository, String databaseId) throws IOException {
        String prefix = repository.layout().eventsPrefix(databaseId);
        try (Stream<ObjectInfo> objects = repository.store().list(prefix)) {
            return objects.map(o -> o.key().substring(prefix.length())).filter(k -> k.matches("[0-9]{20}"))
                    .mapToLong(Long::parseLong).max().orElse(0);
        }
    }

    /**
     * Every event of a database the repository holds, in order, with what could not be read. Events must run without a gap
     * from sequence 0; what follows a missing or damaged batch is reported, not returned.
     */
    public static Read read(Repository repository, ObjectMapper json, String databaseId) throws IOException {
        String prefix = repository.layout().eventsPrefix(databaseId);
        List<String> keys;
        try (Stream<ObjectInfo> objects = repository.store().list(prefix)) {
            keys = objects.map(ObjectInfo::key).filter(k -> k.substring(prefix.length()).matches("[0-9]{20}")).toList();
        }
        TreeMap<Long, MirroredEvent> bySequence = new TreeMap<>();
        List<String> problems = new ArrayList<>();
        for (String key : keys) {
            Batch batch;
            try (InputStream in = repository.openDecoded(key)) {
                batch = json.readValue(in, Batch.class);
            } catch (dev.tidemark.storage.codec.CodecException | com.fasterxml.jackson.core.JacksonException e) {
                problems.add(key + " cannot be read (" + e.getMessage() + ")");
                continue;
            }
            for (MirroredEvent e : batch.events()) {
                if (!databaseId.equals(e.databaseId())) {
                    throw new IllegalStateException(key + " holds events of database " + e.databaseId() + ", not of " + databaseId
                            + ": the repository's objects were moved or copied between databases; nothing was recovered");
                }
                MirroredEvent before = bySequence.putIfAbsent(e.sequence(), e);
                if (before != null && !before.eventId().equals(e.eventId())) {
                    throw new IllegalStateException("event " + e.sequence() + " of " + databaseId + " is stored twice with different"
                            + " ids (" + before.eventId() + ", " + e.eventId() + "): two engines wrote this database's events;"
                            + " nothing was recovered");
                }
            }
        }
        List<MirroredEvent> events = new ArrayList<>();
        long expected = 0;
        for (Map.Entry<Long, MirroredEvent> e : bySequence.entrySet()) {
            if (e.getKey() != expected) {
                problems.add("events " + expected + " to " + (e.getKey() - 1) + " of " + databaseId + " are missing; the "
                        + (bySequence.lastKey() - e.getKey() + 1) + " events after them are not used");
                break;
            }
            events.add(e.getValue());
            expected++;
        }
        return new Read(databaseId, events, problems, keys.size());
    }

    /** What the repository holds of a database's events: the usable ones from sequence 0 on, and what was wrong. */
    public record Read(String databaseId, List<MirroredEvent> events, List<String> problems, int objects) {
        public boolean complete() {
            return problems.isEmpty() && !events.isEmpty();
        }
    }
}
