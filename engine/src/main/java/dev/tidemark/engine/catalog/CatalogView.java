package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.DatabaseEvent;
import org.axonframework.config.ProcessingGroup;
import org.axonframework.eventhandling.EventHandler;
import org.axonframework.eventhandling.Timestamp;
import org.axonframework.messaging.annotation.MetaDataValue;
import org.axonframework.eventhandling.SequenceNumber;
import org.axonframework.messaging.unitofwork.CurrentUnitOfWork;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The read model: every database's history, folded from the event stream. Rebuilt from the event store at start,
 * then kept current after each commit in the thread that committed the command, so a read right after a command
 * sees it, and by the sync processor for what other nodes commit. Listeners hear of each event once, after its
 * transaction committed.
 */
@ProcessingGroup(CatalogView.GROUP)
public final class CatalogView {
    static final String GROUP = "catalog-view";
    private static final Logger LOG = LoggerFactory.getLogger(CatalogView.class);
    private final Map<String, DatabaseHistory> histories = new ConcurrentHashMap<>();
    /** Per database, the sequence numbers listeners heard of since the catalog opened (each event is told once). */
    private final Map<String, java.util.Set<Long>> told = new ConcurrentHashMap<>();
    private final List<Consumer<CatalogEvent>> listeners = new CopyOnWriteArrayList<>();
    private final Map<String, Object> locks = new ConcurrentHashMap<>();
    private volatile Function<String, List<CatalogEvent>> store;

    public Optional<DatabaseHistory> database(String id) {
        DatabaseHistory h = histories.get(id);
        if (h == null) {
            return Optional.empty();
        }
        synchronized (h) {
            return Optional.of(h.copy());
        }
    }

    public List<DatabaseHistory> databases() {
        return histories.keySet().stream().sorted().map(this::database).flatMap(Optional::stream)
                .sorted(Comparator.comparing(DatabaseHistory::id)).toList();
    }

    void subscribe(Consumer<CatalogEvent> listener) {
        listeners.add(listener);
    }

    /** Where a database's whole stream is read from when the view finds a gap in it (set once the store is open). */
    void readFrom(Function<String, List<CatalogEvent>> store) {
        this.store = store;
    }

    /** Folds an event in without telling listeners (replay at start). */
    void replay(DatabaseEvent event, long sequence) {
        fold(new CatalogEvent(event, sequence, null, null));
    }

    /**
     * An event committed by this node. It is folded and told only once its transaction committed (still in the
     * committing thread, so a read right after the command sees it): an event whose commit failed never shows.
     */
    @EventHandler
    void on(DatabaseEvent event, @SequenceNumber long sequence, @Timestamp Instant timestamp, @MetaDataValue("actor") String actor) {
        CatalogEvent committed = new CatalogEvent(event, sequence, timestamp, actor);
        if (CurrentUnitOfWork.isStarted()) {
            CurrentUnitOfWork.get().root().afterCommit(u -> foldAndTell(committed));
        } else {
            foldAndTell(committed);
        }
    }

    /** An event read back from the store by the sync processor (this node's or another's): folded unless known. */
    void synced(DatabaseEvent event, long sequence, Instant timestamp, String actor) {
        foldAndTell(new CatalogEvent(event, sequence, timestamp, actor));
    }

    /** After the start-up replay: what is in the store now has happened before this node listened. */
    void markAllTold() {
        histories.forEach((id, h) -> {
            java.util.Set<Long> set = told.computeIfAbsent(id, k -> ConcurrentHashMap.newKeySet());
            for (long q = 0; q <= h.version(); q++) {
                set.add(q);
            }
        });
    }

    private void foldAndTell(CatalogEvent event) {
        for (CatalogEvent e : fold(event)) {
            tell(e);
        }
        tell(event); // told once whoever folded it
    }

    /**
     * Folds the event unless the history has it already. Events of one database arrive in order from this node, but
     * another node's events reach this one later through the sync processor: when the event is not the next one,
     * the database is read again from the store, and the events that were skipped are returned to be told.
     */
    private List<CatalogEvent> fold(CatalogEvent event) {
        String id = event.databaseId();
        synchronized (locks.computeIfAbsent(id, k -> new Object())) {
            DatabaseHistory h = histories.get(id);
            long version = h == null ? -1 : h.version();
            if (event.sequence() <= version) {
                return List.of();
            }
            Function<String, List<CatalogEvent>> reader = store;
            if (event.sequence() == version + 1 || reader == null) {
                DatabaseHistory next = h == null ? new DatabaseHistory() : h;
                synchronized (next) {
                    next.apply(event.event(), event.sequence());
                }
                histories.putIfAbsent(id, next);
                return List.of();
            }
            LOG.debug("events {}..{} of {} not heard yet; reading the database from the catalog", version + 1, event.sequence() - 1, id);
            List<CatalogEvent> stored = reader.apply(id);
            DatabaseHistory rebuilt = new DatabaseHistory();
            List<CatalogEvent> skipped = new ArrayList<>();
            for (CatalogEvent e : stored) {
                rebuilt.apply(e.event(), e.sequence());
                if (e.sequence() > version) {
                    skipped.add(e);
                }
            }
            histories.put(id, rebuilt);
            return skipped;
        }
    }

    private void tell(CatalogEvent event) {
        if (!told.computeIfAbsent(event.databaseId(), k -> ConcurrentHashMap.newKeySet()).add(event.sequence())) {
            return;
        }
        for (Consumer<CatalogEvent> listener : listeners) {
            try {
                listener.accept(event);
            } catch (RuntimeException e) {
                LOG.warn("a listener failed on {} of {}: {}", event.type(), event.databaseId(), e.getMessage());
            }
        }
    }
}
