package dev.tidemark.engine.node;

import dev.tidemark.engine.catalog.SchemaLock;
import dev.tidemark.engine.catalog.api.Commands.LiveWal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The durable WAL position of each database as its owner last shared it (issue 20): one row per database in the catalog
 * database, overwritten every {@link #SHARE_EVERY} by the node that streams it, so that every other node's window, API
 * and restore plans reach within a few seconds of the owner's, although the catalog records WAL in batches up to five
 * minutes apart on a quiet database. A row is a fact about the repository (that WAL is durable there), so an old
 * owner's last row stays true; it is a hint the window uses only where it continues the recorded WAL.
 */
public final class LivePositions implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LivePositions.class);
    /** How often the owner shares its positions; readers read them at most once a second. */
    public static final Duration SHARE_EVERY = Duration.ofSeconds(2);
    private static final long READ_EVERY_NANOS = Duration.ofSeconds(1).toNanos();

    private final DataSource dataSource;
    private final String nodeId;
    private final Map<String, LiveWal> shared = new ConcurrentHashMap<>(); // what this node wrote last, per database
    private volatile Map<String, LiveWal> read = Map.of();
    private volatile long readAt;
    private volatile boolean wasRead;
    private volatile boolean failing;
    private volatile Thread sharer;

    public LivePositions(DataSource dataSource, String nodeId) {
        this.dataSource = dataSource;
        this.nodeId = nodeId;
        try (SchemaLock lock = SchemaLock.acquire(dataSource); Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute("create table if not exists tidemark_live_wal (database_id varchar(200) primary key, owner varchar(200) not null,"
                    + " chain varchar(200) not null, timeline integer not null, lsn varchar(32) not null,"
                    + " server_time timestamp with time zone not null, contiguous_from varchar(32), shared_at timestamp with time zone not null)");
        } catch (SQLException e) {
            throw new IllegalStateException("could not create the live WAL position table in the catalog: " + e.getMessage(), e);
        }
    }

    /** Shares owned() every {@link #SHARE_EVERY} in the background: the live positions of the databases this node streams. */
    public void start(Supplier<Map<String, LiveWal>> owned) {
        sharer = Thread.ofPlatform().daemon().name("live-wal-" + nodeId).start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(SHARE_EVERY.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
                try {
                    share(owned.get());
                } catch (RuntimeException e) {
                    LOG.warn("could not gather the live WAL positions to share: {}", e.getMessage());
                }
            }
        });
    }

    /** Writes the positions that changed since this node last wrote them, in one transaction. */
    void share(Map<String, LiveWal> positions) {
        Map<String, LiveWal> changed = new HashMap<>();
        positions.forEach((id, live) -> {
            if (live != null && !live.equals(shared.get(id))) {
                changed.put(id, live);
            }
        });
        if (changed.isEmpty()) {
            return;
        }
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement update = c.prepareStatement("update tidemark_live_wal set owner = ?, chain = ?, timeline = ?, lsn = ?,"
                    + " server_time = ?, contiguous_from = ?, shared_at = current_timestamp where database_id = ?");
                 PreparedStatement insert = c.prepareStatement("insert into tidemark_live_wal (owner, chain, timeline, lsn, server_time,"
                         + " contiguous_from, shared_at, database_id) values (?, ?, ?, ?, ?, ?, current_timestamp, ?)")) {
                for (Map.Entry<String, LiveWal> e : changed.entrySet()) {
                    if (bind(update, e.getKey(), e.getValue()).executeUpdate() == 0) {
                        bind(insert, e.getKey(), e.getValue()).executeUpdate();
                    }
                }
                c.commit();
            } catch (SQLException e) {
                c.rollback();
                throw e;
            }
            shared.putAll(changed);
            if (failing) {
                failing = false;
                LOG.info("node {} shares its live WAL positions in the catalog again", nodeId);
            }
        } catch (SQLException e) {
            if (!failing) {
                failing = true;
                LOG.warn("node {} could not share its live WAL positions in the catalog ({}); other nodes see the recorded WAL"
                        + " until it can", nodeId, e.getMessage());
            }
        }
    }

    private PreparedStatement bind(PreparedStatement s, String databaseId, LiveWal live) throws SQLException {
        s.setString(1, nodeId);
        s.setString(2, live.chain());
        s.setInt(3, live.timeline());
        s.setString(4, live.lsn());
        s.setObject(5, live.time().atOffset(ZoneOffset.UTC));
        s.setString(6, live.contiguousFrom());
        s.setString(7, databaseId);
        return s;
    }

    /** The database's live position as its owner last shared it (read at most once a second), or null. */
    public LiveWal get(String databaseId) {
        if (!wasRead || System.nanoTime() - readAt > READ_EVERY_NANOS) {
            refresh();
        }
        return read.get(databaseId);
    }

    private synchronized void refresh() {
        if (wasRead && System.nanoTime() - readAt <= READ_EVERY_NANOS) {
            return; // another thread just read them
        }
        Map<String, LiveWal> rows = new HashMap<>();
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(
                "select database_id, chain, timeline, lsn, server_time, contiguous_from from tidemark_live_wal")) {
            while (r.next()) {
                rows.put(r.getString(1), new LiveWal(r.getString(2), r.getInt(3), r.getString(4),
                        r.getObject(5, OffsetDateTime.class).toInstant(), r.getString(6)));
            }
            read = rows;
        } catch (SQLException e) {
            LOG.debug("could not read the shared live WAL positions: {}", e.getMessage()); // the recorded WAL serves meanwhile
        }
        readAt = System.nanoTime();
        wasRead = true;
    }

    @Override
    public void close() {
        Thread t = sharer;
        if (t != null) {
            t.interrupt();
        }
    }
}
