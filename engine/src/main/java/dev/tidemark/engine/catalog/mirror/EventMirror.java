package dev.tidemark.engine.catalog.mirror;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.storage.Repository;
import org.axonframework.common.transaction.TransactionManager;
import org.axonframework.eventhandling.DomainEventMessage;
import org.axonframework.eventhandling.TrackedEventMessage;
import org.axonframework.eventhandling.TrackingToken;
import org.axonframework.eventhandling.tokenstore.TokenStore;
import org.axonframework.eventhandling.tokenstore.UnableToClaimTokenException;
import org.axonframework.eventsourcing.eventstore.DomainEventStream;
import org.axonframework.eventsourcing.eventstore.EventStorageEngine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Writes every catalog event into the repository, per database and in order, a few seconds after it committed. A
 * tracking loop with its token in the catalog's token store (claimed, so one node of a shared catalog mirrors): it
 * reads what committed since its token, rewrites the newest batch object of each database touched, and only then
 * stores the token. It runs beside the commands, so it never delays them (nor WAL acknowledgement); while the
 * repository fails it keeps its token and tries again, so an outage delays the mirror and loses nothing.
 */
public final class EventMirror implements AutoCloseable {
    public static final String NAME = "repository-mirror";
    private static final Logger LOG = LoggerFactory.getLogger(EventMirror.class);
    private static final int READ_AT_ONCE = 1000;
    private static final Duration WARN_EVERY = Duration.ofMinutes(5);

    private final EventStorageEngine storage;
    private final TokenStore tokens;
    private final TransactionManager transactions;
    private final Repository repository;
    private final ObjectMapper json;
    /** Per database, the first sequence number of its newest batch in the repository (found by listing once). */
    private final Map<String, Long> newestBatch = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timer;
    private long failingSince;
    private long lastWarning;

    public EventMirror(EventStorageEngine storage, TokenStore tokens, TransactionManager transactions,
                       Repository repository, ObjectMapper json, Duration interval) {
        this.storage = storage;
        this.tokens = tokens;
        this.transactions = transactions;
        this.repository = repository;
        this.json = json;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tidemark-event-mirror");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::runQuietly, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void runQuietly() {
        try {
            catchUp();
        } catch (RuntimeException e) {
            LOG.warn("event mirror: {}", e.getMessage());
        }
    }

    /**
     * Writes everything committed since the token; returns false when another node holds the claim or the repository
     * failed (the token stays, the next run writes it). Safe to call from any thread.
     */
    public synchronized boolean catchUp() {
        TrackingToken token;
        try {
            token = transactions.fetchInTransaction(() -> {
                if (tokens.fetchSegments(NAME).length == 0) {
                    tokens.initializeTokenSegments(NAME, 1, null); // from the first event: a catalog older than the mirror is mirrored whole
                }
                return tokens.fetchToken(NAME, 0);
            });
        } catch (UnableToClaimTokenException e) {
            return false; // another node of the shared catalog mirrors
        }
        try {
            while (true) {
                List<DomainEventMessage<?>> batch = new ArrayList<>();
                TrackingToken last = token;
                // straight from the store, not through the event store's prefetching reader: at shutdown the newest
                // events must be seen at once
                try (java.util.stream.Stream<? extends TrackedEventMessage<?>> stream = storage.readEvents(token, false)) {
                    java.util.Iterator<? extends TrackedEventMessage<?>> read = stream.limit(READ_AT_ONCE).iterator();
                    while (read.hasNext()) {
                        TrackedEventMessage<?> m = read.next();
                        last = m.trackingToken();
                        if (m instanceof DomainEventMessage<?> d) {
                            batch.add(d);
                        }
                    }
                }
                if (last == token) {
                    TrackingToken kept = token;
                    transactions.executeInTransaction(() -> tokens.storeToken(kept, NAME, 0)); // keeps the claim
                    break;
                }
                Set<String> touched = new LinkedHashSet<>();
                batch.forEach(m -> touched.add(m.getAggregateIdentifier()));
                for (String databaseId : touched) {
                    write(databaseId);
                }
                TrackingToken done = last;
                transactions.executeInTransaction(() -> tokens.storeToken(done, NAME, 0));
                token = last;
            }
            if (failingSince != 0) {
                LOG.info("event mirror: the repository takes the catalog's events again, after {} s",
                        (System.nanoTime() - failingSince) / 1_000_000_000L);
                failingSince = 0;
            }
            return true;
        } catch (java.io.IOException | RuntimeException e) {
            newestBatch.clear(); // listed again on the next run
            long now = System.nanoTime();
            if (failingSince == 0 || now - lastWarning > WARN_EVERY.toNanos()) {
                LOG.warn("event mirror: cannot write the catalog's events to repository {} ({}); they are kept in the catalog and"
                        + " written in order when it answers", repository.store().describe(), e.getMessage());
                lastWarning = now;
            }
            if (failingSince == 0) {
                failingSince = now;
            }
            return false;
        }
    }

    /** Rewrites the database's newest batch with every event from its start on (and any batches that follow it). */
    private void write(String databaseId) throws java.io.IOException {
        long from = newestBatch.containsKey(databaseId) ? newestBatch.get(databaseId)
                : EventObjects.newestBatchStart(repository, databaseId);
        List<MirroredEvent> stored = new ArrayList<>();
        DomainEventStream stream = storage.readEvents(databaseId, from);
        while (stream.hasNext()) {
            stored.add(MirroredEvent.of(stream.next(), json));
        }
        if (stored.isEmpty()) {
            return;
        }
        List<List<MirroredEvent>> batches = EventObjects.cut(stored);
        for (List<MirroredEvent> b : batches) {
            EventObjects.write(repository, json, databaseId, b);
        }
        newestBatch.put(databaseId, batches.get(batches.size() - 1).get(0).sequence());
    }

    /** Writes what is left, then stops; the claim is released so another node (or the next start) goes on at once. */
    @Override
    public void close() {
        timer.shutdown();
        try {
            timer.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (catchUp()) {
            transactions.executeInTransaction(() -> tokens.releaseClaim(NAME, 0));
        }
    }
}
