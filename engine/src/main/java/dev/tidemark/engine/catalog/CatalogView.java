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
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The read model: every database's history, folded from the event stream. Rebuilt from the event store at start,
 * then kept current by a subscribing processor in the thread that committed the command, so a read right after a
 * command sees it. Listeners hear of each event after its transaction committed.
 */
@ProcessingGroup(CatalogView.GROUP)
public final class CatalogView {
    static final String GROUP = "catalog-view";
    private static final Logger LOG = LoggerFactory.getLogger(CatalogView.class);
    private final Map<String, DatabaseHistory> histories = new ConcurrentHashMap<>();
    /** Per database, the sequence numbers listeners heard of since the catalog opened (each event is told once). */
    private final Map<String, java.util.Set<Long>> told = new ConcurrentHashMap<>();
    private final List<Consumer<CatalogEvent>> listeners = new CopyOnWriteArrayList<>();

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

    /** Folds an event in without telling listeners (replay at start). */
    void replay(DatabaseEvent event, long sequence) {
        fold(event, sequence);
    }

    /** Folds an event reloaded after a refused command, telling listeners if nobody did yet (another node's event). */
    void reloaded(DatabaseEvent event, long sequence, Instant timestamp, String actor) {
        fold(event, sequence);
        tell(new CatalogEvent(event, sequence, timestamp, actor));
    }

    /** An event committed by this node, in the committing thread: folded now, told after the commit. */
    @EventHandler
    void on(DatabaseEvent event, @SequenceNumber long sequence, @Timestamp Instant timestamp, @MetaDataValue("actor") String actor) {
        if (!fold(event, sequence)) {
            return;
        }
        CatalogEvent committed = new CatalogEvent(event, sequence, timestamp, actor);
        if (CurrentUnitOfWork.isStarted()) {
            CurrentUnitOfWork.get().root().afterCommit(u -> tell(committed));
        } else {
            tell(committed);
        }
    }

    /** An event read back from the store by the sync processor: folded unless known, told unless told already. */
    void synced(DatabaseEvent event, long sequence, Instant timestamp, String actor) {
        fold(event, sequence);
        tell(new CatalogEvent(event, sequence, timestamp, actor));
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

    /** Folds the event unless the history has it already; says whether it was new. */
    private boolean fold(DatabaseEvent event, long sequence) {
        DatabaseHistory h = histories.computeIfAbsent(event.databaseId(), k -> new DatabaseHistory());
        synchronized (h) {
            if (sequence > h.version()) {
                h.apply(event, sequence);
                return true;
            }
            return false;
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

    /** Drops what a failed command may have folded in, and reloads the database from the store. */
    void forget(String databaseId) {
        histories.remove(databaseId);
    }
}
