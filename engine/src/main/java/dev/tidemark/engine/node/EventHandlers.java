package dev.tidemark.engine.node;

import dev.tidemark.engine.catalog.CatalogEvent;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * What runs when events commit, and at start: each capability registers the handlers of its own events and the start
 * hooks of its own jobs here; the node calls them without knowing any capability.
 */
public final class EventHandlers {
    private static final Logger LOG = LoggerFactory.getLogger(EventHandlers.class);

    private final Predicate<String> owned;
    private final Map<Class<?>, List<Consumer<DatabaseEvent>>> always = new ConcurrentHashMap<>();
    private final Map<Class<?>, List<Consumer<DatabaseEvent>>> ofOwned = new ConcurrentHashMap<>();
    private final List<Consumer<DatabaseHistory>> interrupted = new CopyOnWriteArrayList<>();
    private final List<Consumer<DatabaseHistory>> queued = new CopyOnWriteArrayList<>();

    EventHandlers(Predicate<String> owned) {
        this.owned = owned;
    }

    /** handler runs for every event of type, whichever node owns its database. */
    public <E extends DatabaseEvent> void onAny(Class<E> type, Consumer<? super E> handler) {
        always.computeIfAbsent(type, t -> new CopyOnWriteArrayList<>()).add(e -> handler.accept(type.cast(e)));
    }

    /** handler runs for events of type of a database this node owns; another node's databases are its own business. */
    public <E extends DatabaseEvent> void onOwned(Class<E> type, Consumer<? super E> handler) {
        ofOwned.computeIfAbsent(type, t -> new CopyOnWriteArrayList<>()).add(e -> handler.accept(type.cast(e)));
    }

    /** hook runs at start for each owned database: it fails what was running when the engine stopped. */
    public void onInterrupted(Consumer<DatabaseHistory> hook) {
        interrupted.add(hook);
    }

    /** hook runs at start for each owned database: it starts what was asked for while the engine was down. */
    public void onQueued(Consumer<DatabaseHistory> hook) {
        queued.add(hook);
    }

    /** Acts on a committed event; a handler's failure is logged, never thrown at the catalog. */
    public void dispatch(CatalogEvent committed) {
        try {
            DatabaseEvent event = committed.event();
            for (Consumer<DatabaseEvent> h : always.getOrDefault(event.getClass(), List.of())) {
                h.accept(event);
            }
            List<Consumer<DatabaseEvent>> handlers = ofOwned.getOrDefault(event.getClass(), List.of());
            if (!handlers.isEmpty() && owned.test(committed.databaseId())) {
                for (Consumer<DatabaseEvent> h : handlers) {
                    h.accept(event);
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("could not act on {} of {}: {}", committed.type(), committed.databaseId(), e.getMessage());
        }
    }

    void failInterrupted(DatabaseHistory db) {
        interrupted.forEach(h -> h.accept(db));
    }

    void startQueued(DatabaseHistory db) {
        queued.forEach(h -> h.accept(db));
    }
}
