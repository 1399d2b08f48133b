package dev.tidemark.engine.node;

import dev.tidemark.engine.catalog.SchemaLock;
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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Ownership of databases as leases in the catalog database (issue 20): a row per database (owner, expires_at, epoch)
 * and a row per node (heartbeat, draining). The owner renews its leases every {@code renewEvery}; a lease not renewed
 * for {@code duration} is taken by a live node with one conditional UPDATE (expires_at passed, epoch + 1), so two nodes
 * never both win it. Times in the table are the catalog database's own clock (CURRENT_TIMESTAMP), never a node's.
 * <p>
 * Fencing: a node counts a lease as its own only until {@code duration - margin} after the start of its last
 * successful renewal, measured on its own monotonic clock ({@link System#nanoTime()}); past that it stops the
 * database's work ({@link Listener#lost}) although nobody told it, before any other node may take the lease.
 * {@link #mayWrite} is the check made before each upload.
 */
public final class Leases implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Leases.class);

    /** What a node does when it gains or loses a database. Called on the lease threads; must not block long. */
    public interface Listener {
        void acquired(String databaseId, String previousOwner, long epoch);

        void lost(String databaseId, String reason);
    }

    /** One node as the node table shows it. */
    public record NodeRow(String id, OffsetDateTime heartbeat, double heartbeatAgeSeconds, boolean draining, boolean live,
                          List<String> databases) {
    }

    private record Held(long epoch) {
    }

    private final DataSource dataSource;
    private final String nodeId;
    private final Duration duration;
    private final Duration renewEvery;
    private final Duration margin;
    private final Supplier<Map<String, String>> activeDatabases; // id -> owner recorded in the catalog (null: none)
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    private final Map<String, Long> ownerless = new HashMap<>(); // active databases seen with no owner recorded, since (nanoTime)
    private volatile long validUntilNanos = Long.MIN_VALUE;
    private volatile boolean paused; // a test's stand-in for a frozen renewal thread
    private volatile boolean draining;
    private volatile int liveNodes = 1; // nodes whose heartbeat is recent, this one included, as of the last round
    private volatile Listener listener = new Listener() {
        @Override
        public void acquired(String databaseId, String previousOwner, long epoch) {
        }

        @Override
        public void lost(String databaseId, String reason) {
        }
    };
    private Thread renewer;
    private Thread watchdog;
    private volatile boolean closed;
    private volatile boolean crashed;

    /**
     * @param duration        how long a lease lasts without renewal (another node may take it after that)
     * @param activeDatabases the catalog's active databases with their recorded owner
     */
    public Leases(DataSource dataSource, String nodeId, Duration duration, Supplier<Map<String, String>> activeDatabases) {
        this.dataSource = dataSource;
        this.nodeId = nodeId;
        this.duration = duration;
        this.renewEvery = duration.dividedBy(5);
        this.margin = duration.dividedBy(4); // renew every fifth, fence a quarter before expiry
        this.activeDatabases = activeDatabases;
        createTables();
    }

    public void listener(Listener l) {
        this.listener = l;
    }

    public Duration duration() {
        return duration;
    }

    /** Runs a first round at once (so a node that starts owns its databases before it streams), then in the background. */
    public void start() {
        tick();
        renewer = Thread.ofPlatform().daemon().name("lease-renewal-" + nodeId).start(() -> {
            while (!closed) {
                try {
                    Thread.sleep(renewEvery.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
                if (!paused) {
                    tick();
                }
            }
        });
        watchdog = Thread.ofPlatform().daemon().name("lease-fence-" + nodeId).start(() -> {
            while (!closed) {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
                fenceIfStale();
            }
        });
    }

    /** True while this node holds the database's lease and its last renewal is recent enough on its own clock. */
    public boolean holds(String databaseId) {
        return held.containsKey(databaseId) && System.nanoTime() - validUntilNanos < 0;
    }

    /** The check before an upload or an acknowledgement: holds the lease now. */
    public boolean mayWrite(String databaseId) {
        return holds(databaseId); // the watchdog stops the stream; never from the writing thread itself
    }

    /** Whether another node's heartbeat was recent at the last round: someone else may read what this node shares. */
    public boolean othersLive() {
        return liveNodes > 1;
    }

    public Set<String> held() {
        return Set.copyOf(held.keySet());
    }

    /** Test hook: stops (true) or resumes renewing, as a frozen node would; the fence keeps watching. */
    public void pauseRenewal(boolean pause) {
        this.paused = pause;
    }

    /** Drains this node: it gives up its leases (after stopping their work) and takes none until undrained. */
    public void drain(boolean drain) {
        this.draining = drain;
        try (Connection c = dataSource.getConnection(); PreparedStatement s = c.prepareStatement(
                "update tidemark_node set draining = ? where node_id = ?")) {
            s.setBoolean(1, drain);
            s.setString(2, nodeId);
            s.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("could not mark node " + nodeId + " draining: " + e.getMessage(), e);
        }
        if (drain) {
            tick();
        }
    }

    /** Marks another node draining (the API's drain of any node); that node hands its leases over on its next renewal. */
    public void requestDrain(String node, boolean drain) {
        try (Connection c = dataSource.getConnection(); PreparedStatement s = c.prepareStatement(
                "update tidemark_node set draining = ? where node_id = ?")) {
            s.setBoolean(1, drain);
            s.setString(2, node);
            if (s.executeUpdate() == 0) {
                throw new IllegalArgumentException("no node " + node + " has a heartbeat in the catalog");
            }
        } catch (SQLException e) {
            throw new IllegalStateException("could not mark node " + node + " draining: " + e.getMessage(), e);
        }
        if (node.equals(nodeId)) {
            drain(drain);
        }
    }

    /** The live, not draining node with the fewest leases (this node when none is known): where a new database goes. */
    public String leastLoaded() {
        return nodes().stream().filter(n -> n.live() && !n.draining())
                .min(java.util.Comparator.comparingInt((NodeRow n) -> n.databases().size()).thenComparing(NodeRow::id))
                .map(NodeRow::id).orElse(nodeId);
    }

    /** Every node with a row, with its heartbeat age and the leases it holds (expired or not). */
    public List<NodeRow> nodes() {
        try (Connection c = dataSource.getConnection()) {
            OffsetDateTime now = now(c);
            Map<String, List<String>> owned = new HashMap<>();
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select database_id, owner from tidemark_lease order by database_id")) {
                while (r.next()) {
                    owned.computeIfAbsent(r.getString(2), k -> new ArrayList<>()).add(r.getString(1));
                }
            }
            List<NodeRow> rows = new ArrayList<>();
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select node_id, heartbeat_at, draining from tidemark_node order by node_id")) {
                while (r.next()) {
                    OffsetDateTime hb = r.getObject(2, OffsetDateTime.class);
                    double age = Duration.between(hb, now).toMillis() / 1000.0;
                    rows.add(new NodeRow(r.getString(1), hb, age, r.getBoolean(3), age < duration.toSeconds(),
                            owned.getOrDefault(r.getString(1), List.of())));
                }
            }
            return rows;
        } catch (SQLException e) {
            throw new IllegalStateException("could not read the node table: " + e.getMessage(), e);
        }
    }

    /**
     * A new database's lease row, for the node chosen for it, written at once so that the next registration counts it
     * (the nodes' views of the catalog follow a moment later); that node renews and takes it on its next round.
     * Nothing changes when the row exists already.
     */
    public void assign(String databaseId, String owner) {
        try (Connection c = dataSource.getConnection(); PreparedStatement s = c.prepareStatement(
                "insert into tidemark_lease (database_id, owner, expires_at, epoch) values (?, ?, ?, 1)")) {
            s.setString(1, databaseId);
            s.setString(2, owner);
            s.setObject(3, now(c).plus(duration));
            s.executeUpdate();
        } catch (SQLException e) {
            // written already (by the owner's round, or an earlier registration of the id): kept as it is
        }
    }

    /** One round now (after a registration: the new database's lease is taken without waiting for the next round). */
    public void renewNow() {
        if (!closed && !paused) {
            tick();
        }
    }

    /** One round: heartbeat, renewal, leases for new databases, handing over when draining, takeover of lapsed leases. */
    synchronized void tick() {
        long started = System.nanoTime();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            OffsetDateTime now = now(c);
            OffsetDateTime until = now.plus(duration);
            try (PreparedStatement s = c.prepareStatement("update tidemark_node set heartbeat_at = ? where node_id = ?")) {
                s.setObject(1, now);
                s.setString(2, nodeId);
                if (s.executeUpdate() == 0) {
                    try (PreparedStatement i = c.prepareStatement("insert into tidemark_node (node_id, heartbeat_at, draining) values (?, ?, false)")) {
                        i.setString(1, nodeId);
                        i.setObject(2, now);
                        i.executeUpdate();
                    }
                }
            }
            try (PreparedStatement s = c.prepareStatement("select count(*) from tidemark_node where heartbeat_at > ?")) {
                s.setObject(1, now.minus(duration));
                try (ResultSet r = s.executeQuery()) {
                    liveNodes = r.next() ? Math.max(1, r.getInt(1)) : 1;
                }
            }
            try (PreparedStatement s = c.prepareStatement("select draining from tidemark_node where node_id = ?")) {
                s.setString(1, nodeId);
                try (ResultSet r = s.executeQuery()) {
                    draining = r.next() && r.getBoolean(1);
                }
            }
            // renew every lease this node holds (and only with the epoch it holds it at)
            try (PreparedStatement s = c.prepareStatement("update tidemark_lease set expires_at = ? where owner = ?")) {
                s.setObject(1, until);
                s.setString(2, nodeId);
                s.executeUpdate();
            }
            Map<String, Long> mine = new HashMap<>();
            try (PreparedStatement s = c.prepareStatement("select database_id, epoch from tidemark_lease where owner = ?")) {
                s.setString(1, nodeId);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        mine.put(r.getString(1), r.getLong(2));
                    }
                }
            }
            Map<String, String> active = activeDatabases.get();
            insertMissing(c, active, now, until, mine);
            // the leases lost are dropped before the renewal extends the deadline: a node waking from a freeze must not see a
            // database another node took as writable in between (a stream's final upload came through that window)
            Map<String, String> lost = new LinkedHashMap<>();
            for (String id : List.copyOf(held.keySet())) {
                Held h = held.get(id);
                Long epoch = mine.get(id);
                if (h != null && (epoch == null || epoch != h.epoch() || !active.containsKey(id))) {
                    held.remove(id);
                    lost.put(id, epoch == null ? "another node took it" : epoch != h.epoch() ? "taken at epoch " + epoch : "deregistered");
                }
            }
            validUntilNanos = started + duration.minus(margin).toNanos();
            for (Map.Entry<String, String> l : lost.entrySet()) {
                LOG.warn("node {} no longer holds the lease of database {} ({}): its stream and jobs stop", nodeId, l.getKey(), l.getValue());
                listener.lost(l.getKey(), "lease lost");
            }
            for (Map.Entry<String, Long> e : mine.entrySet()) {
                if (active.containsKey(e.getKey()) && !held.containsKey(e.getKey())) {
                    if (draining) {
                        release(c, e.getKey(), e.getValue(), now);
                        continue;
                    }
                    held.put(e.getKey(), new Held(e.getValue()));
                    listener.acquired(e.getKey(), nodeId, e.getValue());
                }
            }
            if (draining) {
                for (String id : List.copyOf(held.keySet())) {
                    Held h = held.remove(id);
                    listener.lost(id, "node drained");
                    release(c, id, h.epoch(), now);
                    LOG.info("node {} drained: handed database {} over", nodeId, id);
                }
                return;
            }
            takeOver(c, active, now, until);
        } catch (SQLException | RuntimeException e) {
            LOG.warn("node {} could not renew its leases in the catalog ({}); it stops its databases' work {} s after its last renewal"
                    + " unless a renewal succeeds before", nodeId, e.getMessage(), duration.minus(margin).toSeconds());
        }
    }

    private void insertMissing(Connection c, Map<String, String> active, OffsetDateTime now, OffsetDateTime until, Map<String, Long> mine)
            throws SQLException {
        Set<String> present = new java.util.HashSet<>();
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select database_id from tidemark_lease")) {
            while (r.next()) {
                present.add(r.getString(1));
            }
        }
        ownerless.keySet().retainAll(active.keySet());
        for (Map.Entry<String, String> db : active.entrySet()) {
            if (present.contains(db.getKey())) {
                ownerless.remove(db.getKey());
                continue;
            }
            // no owner recorded yet: the registering node is choosing one (its lease row follows at once); taken here
            // only if none comes within a lease period (a registration cut short between its two commands)
            if (db.getValue() == null && System.nanoTime() - ownerless.computeIfAbsent(db.getKey(), k -> System.nanoTime())
                    < duration.toNanos()) {
                continue;
            }
            String owner = db.getValue() == null ? nodeId : db.getValue();
            try (PreparedStatement s = c.prepareStatement(
                    "insert into tidemark_lease (database_id, owner, expires_at, epoch) values (?, ?, ?, 1)")) {
                s.setString(1, db.getKey());
                s.setString(2, owner);
                s.setObject(3, until); // the recorded owner gets one lease period to renew it
                s.executeUpdate();
                if (owner.equals(nodeId)) {
                    mine.put(db.getKey(), 1L);
                }
            } catch (SQLException e) {
                // another node inserted it first: it is read as it is on the next round
            }
        }
    }

    /** Takes lapsed leases while this node has fewer than its fair share (active databases / live nodes, rounded up). */
    private void takeOver(Connection c, Map<String, String> active, OffsetDateTime now, OffsetDateTime until) throws SQLException {
        int live = 0;
        try (PreparedStatement s = c.prepareStatement("select count(*) from tidemark_node where heartbeat_at > ? and draining = false")) {
            s.setObject(1, now.minus(duration));
            try (ResultSet r = s.executeQuery()) {
                r.next();
                live = Math.max(1, r.getInt(1));
            }
        }
        int fairShare = (active.size() + live - 1) / live;
        List<String[]> lapsed = new ArrayList<>();
        try (PreparedStatement s = c.prepareStatement(
                "select database_id, owner, epoch from tidemark_lease where expires_at < ? order by expires_at, database_id")) {
            s.setObject(1, now);
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    lapsed.add(new String[]{r.getString(1), r.getString(2), Long.toString(r.getLong(3))});
                }
            }
        }
        for (String[] l : lapsed) {
            if (held.size() >= fairShare) {
                return;
            }
            if (!active.containsKey(l[0])) {
                continue;
            }
            long epoch = Long.parseLong(l[2]);
            try (PreparedStatement s = c.prepareStatement("update tidemark_lease set owner = ?, expires_at = ?, epoch = epoch + 1"
                    + " where database_id = ? and epoch = ? and expires_at < ?")) {
                s.setString(1, nodeId);
                s.setObject(2, until);
                s.setString(3, l[0]);
                s.setLong(4, epoch);
                s.setObject(5, now);
                if (s.executeUpdate() == 1) {
                    held.put(l[0], new Held(epoch + 1));
                    LOG.info("node {} took over database {} from {} (lease expired; epoch {})", nodeId, l[0], l[1], epoch + 1);
                    listener.acquired(l[0], l[1], epoch + 1);
                }
            }
        }
    }

    private void release(Connection c, String databaseId, long epoch, OffsetDateTime now) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(
                "update tidemark_lease set expires_at = ? where database_id = ? and owner = ? and epoch = ?")) {
            s.setObject(1, now.minusSeconds(1));
            s.setString(2, databaseId);
            s.setString(3, nodeId);
            s.setLong(4, epoch);
            s.executeUpdate();
        }
    }

    /** Past the local deadline with no renewal: every held lease is given up here, before any other node may take it. */
    private void fenceIfStale() {
        if (held.isEmpty() || System.nanoTime() - validUntilNanos < 0) {
            return;
        }
        for (String id : List.copyOf(held.keySet())) {
            if (held.remove(id) != null) {
                LOG.warn("node {} lost the lease of database {}: not renewed within {} s (the node frozen or cut off from the"
                        + " catalog); its stream and jobs stop before another node may take it over", nodeId, id,
                        duration.minus(margin).toSeconds());
                listener.lost(id, "renewal overdue");
            }
        }
    }

    private static OffsetDateTime now(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select current_timestamp")) {
            r.next();
            return r.getObject(1, OffsetDateTime.class);
        }
    }

    private void createTables() {
        try (SchemaLock lock = SchemaLock.acquire(dataSource); Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute("create table if not exists tidemark_node (node_id varchar(200) primary key,"
                    + " heartbeat_at timestamp with time zone not null, draining boolean not null)");
            s.execute("create table if not exists tidemark_lease (database_id varchar(200) primary key, owner varchar(200) not null,"
                    + " expires_at timestamp with time zone not null, epoch bigint not null)");
        } catch (SQLException e) {
            throw new IllegalStateException("could not create the lease tables in the catalog: " + e.getMessage(), e);
        }
    }

    /**
     * Stops renewing and taking (a clean stop begins so: the streams then stop while the leases are still valid, and
     * flush what they have). The leases held stay valid here only until their local deadline.
     */
    public void stopRenewing() {
        closed = true;
        for (Thread t : new Thread[]{renewer, watchdog}) {
            if (t != null) {
                t.interrupt();
            }
        }
        synchronized (this) {
            // waits for a round in progress
        }
    }

    /** Test hook for a crash: stops renewing without giving anything up; the leases lapse and other nodes take them. */
    public void crash() {
        crashed = true;
        stopRenewing();
        held.clear();
    }

    /** A clean stop: the leases are released at once so that other nodes take them without waiting for expiry. */
    @Override
    public void close() {
        stopRenewing();
        held.clear();
        if (crashed) {
            return; // nothing is released, as after a crash
        }
        try (Connection c = dataSource.getConnection(); PreparedStatement s = c.prepareStatement(
                "update tidemark_lease set expires_at = ? where owner = ?")) {
            s.setObject(1, now(c).minusSeconds(1));
            s.setString(2, nodeId);
            s.executeUpdate();
        } catch (SQLException | RuntimeException e) {
            LOG.warn("node {} could not release its leases: {} (they lapse by themselves)", nodeId, e.getMessage());
        }
    }
}
