package dev.tidemark.engine.registration;

import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.ConnectionChange;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.ForbiddenException;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.PolicyChange;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.engine.wal.Streams;
import dev.tidemark.engine.wal.WalStreamer;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What can be asked of a database's registration: register it, point it at other servers, change its policy,
 * deregister it. Each is checked (the servers by {@link ServerChecks}), then recorded in the catalog.
 */
public final class Registration {
    private static final Logger LOG = LoggerFactory.getLogger(Registration.class);

    private final Node node;
    private final Streams streams;
    private final DatabaseViews views;
    private final ServerChecks checks;
    private final boolean schedulerEnabled;

    /** schedulerEnabled: whether this node runs the scheduled jobs (said when a database is registered). */
    public Registration(Node node, Streams streams, DatabaseViews views, boolean schedulerEnabled) {
        this.node = node;
        this.streams = streams;
        this.views = views;
        this.checks = new ServerChecks(node);
        this.schedulerEnabled = schedulerEnabled;
    }

    public DatabaseView register(RegisterDatabase request, String actor) {
        if (request == null || request.id() == null) {
            throw new InvalidRequestException("a database id is required: lower-case letters, digits and '-', at most 63");
        }
        RepositoryLayout.check("database id", request.id(), RepositoryLayout.DATABASE_ID);
        Optional<DatabaseHistory> existing = node.catalog().view().database(request.id());
        if (existing.isPresent()) {
            throw CatalogRejection.conflict("deregistered".equals(existing.get().status())
                    ? "id " + request.id() + " belonged to a database that was deregistered; ids are never reused (its events and"
                    + " backups keep it): choose another id"
                    : "database " + request.id() + " is registered already (ids are never reused, also after deregistration)");
        }
        ServerChecks.Reach reach = checks.checkReach(request.id(), request.pgUrl(), request.pgdata(), request.standbyUrl(), null);
        Policy policy = Policy.defaults().with(request.window(), null, null, null, null, null, null);
        node.catalog().send(new Commands.RegisterDatabase(request.id(), reach.pgUrl(), reach.pgdata(), reach.standbyUrl(), policy,
                node.clock().instant()), actor);
        // issue 20: a new database goes to the live node with the fewest; its lease is taken on that node's next round
        String owner = node.leases().map(l -> l.leastLoaded()).orElse(node.id());
        node.catalog().send(new Commands.AssignOwner(request.id(), owner, node.clock().instant()), actor);
        node.leases().ifPresent(l -> {
            l.assign(request.id(), owner); // the lease row now: counted by the next registration
            l.renewNow(); // taken here at once if ours
        });
        DatabaseView view = views.get(request.id());
        LOG.info("database {} registered by {}: {}; streaming starts; {}", request.id(), actor, view.configuration(), schedulerEnabled
                ? "the first base backup is taken within a minute" : "the scheduler is off on this node: take a first base backup");
        return view;
    }

    /**
     * Points a database at other servers or another data directory: after a failover (the promoted standby is the
     * primary now), a move, or a standby added or removed. The servers must be of the same database system as the WAL
     * archived so far; the stream restarts on the new primary from what is durable.
     */
    public DatabaseView changeConnection(String databaseId, ConnectionChange change, String actor, boolean newServers) {
        DatabaseHistory h = node.history(databaseId);
        if (change == null || change.pgUrl() == null && change.pgdata() == null && change.standbyUrl() == null) {
            throw new InvalidRequestException("nothing to change: give pgUrl, pgdata or standbyUrl (\"\" removes the standby)");
        }
        if (!newServers) {
            requireSameServer(databaseId, "primary", h.pgUrl(), change.pgUrl());
            if (change.standbyUrl() != null && !change.standbyUrl().isEmpty()) {
                requireSameServer(databaseId, "standby", h.standbyUrl(), change.standbyUrl());
            }
        }
        if (!h.active()) {
            throw CatalogRejection.conflict("database " + databaseId + " is " + h.status() + ": its connection cannot change");
        }
        String busy = h.workUnderWayRefusal("change its connection");
        if (busy != null) {
            throw CatalogRejection.conflict(busy);
        }
        String pgUrl = change.pgUrl() != null ? change.pgUrl() : h.pgUrl();
        String pgdata = change.pgdata() != null ? change.pgdata() : h.pgdata();
        String standbyUrl = change.standbyUrl() != null ? change.standbyUrl() : h.standbyUrl();
        ServerChecks.Reach reach = checks.checkReach(databaseId, pgUrl, pgdata, standbyUrl, databaseId);
        String chain = h.chain();
        if (chain != null && !chain.startsWith(reach.systemId() + "-")) {
            throw new InvalidRequestException("the server at " + reach.pgUrl() + " is database system "
                    + reach.systemId() + ", but the WAL of " + databaseId + " comes from system " + chain.substring(0, chain.indexOf('-'))
                    + ": it is another cluster; register it under a new id to protect it (nothing was changed)");
        }
        if (reach.pgUrl().equals(h.pgUrl()) && reach.pgdata().equals(h.pgdata()) && Objects.equals(reach.standbyUrl(), h.standbyUrl())) {
            return views.get(databaseId); // the same servers: nothing to record, nothing to restart
        }
        requireNotBehind(h, node.credentials().server(databaseId, pgUrl));
        node.catalog().send(new Commands.ChangeConnection(databaseId, reach.pgUrl(), reach.pgdata(), reach.standbyUrl(), node.clock().instant()),
                actor);
        LOG.info("database {}: connection changed by {} (primary {}, data directory {}, {}); WAL streaming restarts", databaseId,
                actor, reach.pgUrl(), reach.pgdata(), reach.standbyUrl() == null ? "no standby" : "standby " + reach.standbyUrl());
        return views.get(databaseId);
    }

    /**
     * Refuses a server at another host or port than the one recorded: the database's password (configuration) would be
     * sent to it. Checked before anything is contacted, so the request cannot probe the network either.
     */
    private static void requireSameServer(String databaseId, String role, String currentUrl, String newUrl) {
        if (newUrl == null) {
            return;
        }
        PgConnections next = PgConnections.parse(newUrl, null);
        PgConnections current = currentUrl == null ? null : PgConnections.parse(currentUrl, null);
        if (current == null || !current.host().equalsIgnoreCase(next.host()) || current.port() != next.port()) {
            throw new ForbiddenException("moving " + databaseId + "'s " + role + " to " + next.host() + ":" + next.port()
                    + (current == null ? "" : " (from " + current.host() + ":" + current.port() + ")")
                    + " needs an admin token: the database's stored password would be sent to that server (nothing was changed)");
        }
    }

    /**
     * Refuses a primary that is behind the WAL archived so far: on an earlier timeline than the newest archived (an old
     * primary started again after a failover), or on the same timeline at an earlier position (a copy of an earlier
     * moment). Its WAL would not continue the archive. A server that cannot be asked is left to the stream.
     */
    private void requireNotBehind(DatabaseHistory h, PgConnections primary) {
        Optional<DatabaseHistory.WalRange> newest = h.wal().stream()
                .filter(r -> r.chain().equals(h.chain()) && r.endLsn() != null)
                .max(Comparator.comparingInt(DatabaseHistory.WalRange::timeline)
                        .thenComparing(r -> Lsn.parse(r.endLsn())));
        // the catalog records WAL in batches: what the stream has made durable since counts as archived too
        Commands.LiveWal live = streams.live(h.id());
        if (live != null && h.chain() != null && h.chain().equals(live.chain()) && (newest.isEmpty()
                || live.timeline() > newest.get().timeline() || live.timeline() == newest.get().timeline()
                && Lsn.parse(live.lsn()).compareTo(Lsn.parse(newest.get().endLsn())) > 0)) {
            newest = Optional.of(new DatabaseHistory.WalRange(live.chain(), live.timeline(), 0, 0, null, live.time(), live.lsn(), 0));
        }
        if (newest.isEmpty()) {
            return;
        }
        int timeline;
        Lsn position;
        try (Connection c = primary.open()) {
            ServerQueries.WalInsert now = new ServerQueries(c).walInsert();
            position = now.lsn();
            timeline = now.timeline(); // the timeline the server writes now
        } catch (SQLException | RuntimeException e) {
            return;
        }
        DatabaseHistory.WalRange archived = newest.get();
        String branch = otherBranch(h, primary, timeline, archived.timeline());
        if (branch != null) {
            throw new InvalidRequestException("the server at " + primary + " " + branch + ": it is on another branch of history than the"
                    + " WAL archived for " + h.id() + " (a server promoted on its own, say an old primary after a failover: a split"
                    + " brain). Its WAL would not continue the archive. Give the URL of the server the archive follows; nothing was changed");
        }
        String behind = null;
        if (timeline < archived.timeline()) {
            behind = "writes timeline " + timeline + ", but the WAL archived so far reached timeline " + archived.timeline();
        } else if (timeline == archived.timeline() && position.compareTo(Lsn.parse(archived.endLsn())) < 0) {
            behind = "is at " + position + " on timeline " + timeline + ", behind the " + archived.endLsn() + " archived from it";
        }
        if (behind != null) {
            throw new InvalidRequestException("the server at " + primary + " " + behind + ": it is not the current primary of "
                    + h.id() + " (an old primary started again after a failover, or a copy of an earlier moment). Give the URL of the"
                    + " promoted server; nothing was changed");
        }
    }

    /**
     * Where the server's timeline history disagrees with the archived one: a timeline both know that began at another
     * switch point (two servers promoted to the same timeline number). Null when they agree, or when the server cannot
     * be asked (its history is read over a replication connection).
     */
    private String otherBranch(DatabaseHistory h, PgConnections primary, int serverTimeline, int archivedTimeline) {
        if (serverTimeline <= 1) {
            return null;
        }
        List<WalStreamer.Fork> forks;
        try (Connection c = primary.openReplication()) {
            forks = WalStreamer.history(c, serverTimeline);
        } catch (SQLException | RuntimeException e) {
            return null;
        }
        // the server's timelines, each with where it began: an entry's end is where the next timeline of the history began
        Map<Integer, Lsn> began = new HashMap<>();
        for (int i = 0; i < forks.size(); i++) {
            int next = i + 1 < forks.size() ? forks.get(i + 1).tli() : serverTimeline;
            began.put(next, forks.get(i).begin());
        }
        for (int t = 2; t <= Math.min(serverTimeline, archivedTimeline); t++) {
            Optional<Lsn> archivedStart = h.timelineStart(h.chain(), t);
            if (archivedStart.isEmpty()) {
                continue;
            }
            Lsn serverStart = began.get(t);
            if (serverStart == null) {
                return "has no timeline " + t + " in its history, which the archive's WAL took at " + archivedStart.get();
            }
            if (!serverStart.equals(archivedStart.get())) {
                return "began timeline " + t + " at " + serverStart + ", but the archived timeline " + t + " began at " + archivedStart.get();
            }
        }
        return null;
    }

    public DatabaseView changePolicy(String databaseId, PolicyChange change, String actor) {
        DatabaseHistory h = node.history(databaseId);
        if (change == null) {
            throw new InvalidRequestException("no policy change given");
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        counts.put("dailyDumps", change.dailyDumps());
        counts.put("weeklyDumps", change.weeklyDumps());
        counts.put("monthlyDumps", change.monthlyDumps());
        counts.put("manualDumps", change.manualDumps());
        counts.forEach((name, n) -> {
            if (n != null && (n < 0 || n > 1000)) {
                throw new InvalidRequestException(name + " must be between 1 and 1000, not " + n + " (nothing was changed)");
            }
            if (n != null && n == 0) {
                // retention would remove every such dump at its next run, and each new one as soon as it completed
                String flag = "--" + name.replace("Dumps", "-dumps"); // the CLI's name of it
                throw new InvalidRequestException(name + " (" + flag + ") = 0 would expire every dump of that kind at once, and each new one"
                        + " as soon as it completes: keep at least 1 (nothing was changed)");
            }
        });
        Policy policy = h.policy().with(change.window(), change.baseBackupSchedule(), change.dumpSchedule(), change.dailyDumps(),
                change.weeklyDumps(), change.monthlyDumps(), change.manualDumps()).withSynchronous(change.synchronous());
        node.catalog().send(new Commands.ChangePolicy(databaseId, policy, node.clock().instant()), actor);
        return views.get(databaseId);
    }

    public void deregister(String databaseId, boolean purge, String actor) {
        DatabaseHistory h = node.history(databaseId);
        // work under way would outlive the registration: its result could not be recorded, nor its objects purged
        String busy = h.workUnderWayRefusal("deregister");
        if (busy != null) {
            throw CatalogRejection.conflict(busy);
        }
        node.catalog().send(new Commands.DeregisterDatabase(databaseId, purge, node.clock().instant()), actor);
    }
}
