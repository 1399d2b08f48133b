package dev.tidemark.engine;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.RestorePlan;
import dev.tidemark.engine.catalog.Retention;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.catalog.api.WalCut;
import dev.tidemark.engine.jobs.Schedules;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.ForbiddenException;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.PolicyChange;
import dev.tidemark.engine.operations.ConnectionChange;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.postgres.DataDirectoryIdentity;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.restore.RestoreRunner;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/** Validates what operators and the scheduler ask for, then turns it into catalog commands. */
final class Requests {
    private static final Logger LOG = LoggerFactory.getLogger(Requests.class);
    private static final String SCHEDULER = "scheduler";

    private final EngineConfig config;
    private final Catalog catalog;
    private final Streams streams;
    private final Work work;
    private final Views views;
    private final Clock clock;
    private final Repository repository;
    private final Map<String, Instant> continuityChecked = new java.util.concurrent.ConcurrentHashMap<>();

    Requests(EngineConfig config, Catalog catalog, Streams streams, Work work, Views views, Clock clock, Repository repository) {
        this.config = config;
        this.catalog = catalog;
        this.streams = streams;
        this.work = work;
        this.views = views;
        this.clock = clock;
        this.repository = repository;
    }

    DatabaseView register(RegisterDatabase request, String actor) {
        if (request == null || request.id() == null) {
            throw new InvalidRequestException("a database id is required: lower-case letters, digits and '-', at most 63");
        }
        RepositoryLayout.check("database id", request.id(), RepositoryLayout.DATABASE_ID);
        Optional<DatabaseHistory> existing = catalog.view().database(request.id());
        if (existing.isPresent()) {
            throw CatalogRejection.conflict("deregistered".equals(existing.get().status())
                    ? "id " + request.id() + " belonged to a database that was deregistered; ids are never reused (its events and"
                    + " backups keep it): choose another id"
                    : "database " + request.id() + " is registered already (ids are never reused, also after deregistration)");
        }
        Reach reach = checkReach(request.id(), request.pgUrl(), request.pgdata(), request.standbyUrl(), null);
        Policy policy = Policy.defaults().with(request.window(), null, null, null, null, null, null);
        catalog.send(new Commands.RegisterDatabase(request.id(), reach.pgUrl(), reach.pgdata(), reach.standbyUrl(), policy,
                clock.instant()), actor);
        catalog.send(new Commands.AssignOwner(request.id(), config.nodeId(), clock.instant()), actor);
        LOG.info("database {} registered by {}: streaming starts; {}", request.id(), actor, config.schedulerEnabled()
                ? "the first base backup is taken within a minute" : "the scheduler is off on this node: take a first base backup");
        return views.database(request.id());
    }

    /** Where a database is reached, checked: URLs normalised, the data directory as given. */
    private record Reach(String pgUrl, String pgdata, String standbyUrl, String systemId) {
    }

    /**
     * Checks the servers and the data directory a database is to be reached by (at registration, or a change of them):
     * both servers reachable for SQL and replication and of one system, the standby in recovery, the data directory
     * the live one of the server base backups read, and no other database's. except: the database being changed.
     */
    private Reach checkReach(String databaseId, String pgUrl, String pgdataText, String standbyUrlText, String except) {
        if (pgdataText == null || pgdataText.isBlank() || !Path.of(pgdataText).isAbsolute()) {
            throw new InvalidRequestException("pgdata must be the absolute path of the data directory base backups read, not '"
                    + pgdataText + "'");
        }
        PgConnections primary = PgConnections.parse(pgUrl, config.pgPasswords().get(databaseId));
        ServerFacts primaryFacts = checkServer(primary, "primary");
        ServerFacts backupSource = primaryFacts;
        PgConnections backupServer = primary;
        String standbyUrl = null;
        if (standbyUrlText != null && !standbyUrlText.isBlank()) {
            PgConnections standby = PgConnections.parse(standbyUrlText, config.pgPasswords().get(databaseId));
            ServerFacts standbyFacts = checkServer(standby, "standby");
            if (!standbyFacts.standby()) {
                throw new InvalidRequestException("the standby at " + standby + " is not in recovery: it is a primary; give the URL of a"
                        + " standby of " + primary + ", or leave the standby out");
            }
            if (!standbyFacts.systemId().equals(primaryFacts.systemId())) {
                throw new InvalidRequestException("the standby at " + standby + " is database system " + standbyFacts.systemId()
                        + ", the primary " + primaryFacts.systemId() + ": it is not a standby of this primary");
            }
            standbyUrl = standby.url(); // normalised, as the primary's: only what parse accepted reaches the catalog
            backupSource = standbyFacts;
            backupServer = standby;
        }
        Path pgdata = Path.of(pgdataText);
        RestoreRunner.shellUnsafe("pgdata", pgdata).ifPresent(problem -> { // an in-place restore starts PostgreSQL on it via pg_ctl
            throw new InvalidRequestException(problem);
        });
        if (Files.isReadable(pgdata.resolve("PG_VERSION"))) {
            String mismatch;
            try (Connection c = backupServer.open()) {
                mismatch = DataDirectoryIdentity.mismatch(pgdata, backupSource.systemId(), backupSource.port(), c);
            } catch (SQLException e) {
                throw new InvalidRequestException("cannot reach the " + (standbyUrl == null ? "primary" : "standby") + " to check"
                        + " its data directory: " + e.getMessage());
            }
            if (mismatch != null) {
                throw new InvalidRequestException("pgdata does not belong to the " + (standbyUrl == null ? "primary" : "standby")
                        + " base backups are taken from: " + mismatch + (standbyUrl == null ? ""
                        : " (with a standby, base backups read the standby's data directory)"));
            }
        }
        Path same = resolvedPath(pgdata);
        for (DatabaseHistory other : catalog.view().databases()) {
            if (!"deregistered".equals(other.status()) && !other.id().equals(except) && other.pgdata() != null
                    && resolvedPath(Path.of(other.pgdata())).equals(same)) {
                throw CatalogRejection.conflict("data directory " + pgdata + " is protected already as database " + other.id()
                        + ": a cluster is protected once (its WAL stream, slot and backups belong to " + other.id() + ")");
            }
            // the same primary through another directory (its standby's, or the primary's when the other names the
            // standby). Not the same system identifier alone: a restored copy shares it, and is a cluster of its own
            if (!"deregistered".equals(other.status()) && !other.id().equals(except) && sameServer(other.pgUrl(), primary)) {
                throw CatalogRejection.conflict("the server at " + primary.url() + " is protected already as database " + other.id()
                        + " (data directory " + other.pgdata() + "): a cluster is protected once, whichever of its data directories"
                        + " is named (its WAL stream, slot and backups belong to " + other.id() + "); to back it up from another"
                        + " directory, change " + other.id() + "'s connection");
            }
        }
        if (!Files.isReadable(pgdata.resolve("PG_VERSION"))) {
            throw new InvalidRequestException("pgdata " + pgdata + " is not a PostgreSQL data directory this engine can read "
                    + "(no readable PG_VERSION): give the data directory of the server base backups are taken from, and run the "
                    + "engine as its owner");
        }
        return new Reach(primary.url(), pgdata.toString(), standbyUrl, primaryFacts.systemId());
    }

    /**
     * Points a database at other servers or another data directory: after a failover (the promoted standby is the
     * primary now), a move, or a standby added or removed. The servers must be of the same database system as the WAL
     * archived so far; the stream restarts on the new primary from what is durable.
     */
    DatabaseView changeConnection(String databaseId, ConnectionChange change, String actor, boolean newServers) {
        DatabaseHistory h = views.history(databaseId);
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
        Reach reach = checkReach(databaseId, pgUrl, pgdata, standbyUrl, databaseId);
        String chain = h.chain();
        if (chain != null && !chain.startsWith(reach.systemId() + "-")) {
            throw new InvalidRequestException("the server at " + reach.pgUrl() + " is database system "
                    + reach.systemId() + ", but the WAL of " + databaseId + " comes from system " + chain.substring(0, chain.indexOf('-'))
                    + ": it is another cluster; register it under a new id to protect it (nothing was changed)");
        }
        if (reach.pgUrl().equals(h.pgUrl()) && reach.pgdata().equals(h.pgdata()) && Objects.equals(reach.standbyUrl(), h.standbyUrl())) {
            return views.database(databaseId); // the same servers: nothing to record, nothing to restart
        }
        requireNotBehind(h, PgConnections.parse(pgUrl, config.pgPasswords().get(databaseId)));
        catalog.send(new Commands.ChangeConnection(databaseId, reach.pgUrl(), reach.pgdata(), reach.standbyUrl(), clock.instant()),
                actor);
        LOG.info("database {}: connection changed by {} (primary {}, data directory {}, {}); WAL streaming restarts", databaseId,
                actor, reach.pgUrl(), reach.pgdata(), reach.standbyUrl() == null ? "no standby" : "standby " + reach.standbyUrl());
        return views.database(databaseId);
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
                .max(java.util.Comparator.comparingInt(DatabaseHistory.WalRange::timeline)
                        .thenComparing(r -> dev.tidemark.engine.postgres.Lsn.parse(r.endLsn())));
        // the catalog records WAL in batches: what the stream has made durable since counts as archived too
        Commands.LiveWal live = streams.live(h.id());
        if (live != null && h.chain() != null && h.chain().equals(live.chain()) && (newest.isEmpty()
                || live.timeline() > newest.get().timeline() || live.timeline() == newest.get().timeline()
                && dev.tidemark.engine.postgres.Lsn.parse(live.lsn()).compareTo(dev.tidemark.engine.postgres.Lsn.parse(newest.get().endLsn())) > 0)) {
            newest = Optional.of(new DatabaseHistory.WalRange(live.chain(), live.timeline(), 0, 0, null, live.time(), live.lsn(), 0));
        }
        if (newest.isEmpty()) {
            return;
        }
        int timeline;
        dev.tidemark.engine.postgres.Lsn position;
        try (Connection c = primary.open(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn())")) {
            rs.next();
            position = dev.tidemark.engine.postgres.Lsn.parse(rs.getString(1));
            timeline = Integer.parseInt(rs.getString(2).substring(0, 8), 16); // the timeline the server writes now
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
        } else if (timeline == archived.timeline() && position.compareTo(dev.tidemark.engine.postgres.Lsn.parse(archived.endLsn())) < 0) {
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
        List<dev.tidemark.engine.wal.WalStreamer.Fork> forks;
        try (Connection c = primary.openReplication()) {
            forks = dev.tidemark.engine.wal.WalStreamer.history(c, serverTimeline);
        } catch (SQLException | RuntimeException e) {
            return null;
        }
        // the server's timelines, each with where it began: an entry's end is where the next timeline of the history began
        Map<Integer, dev.tidemark.engine.postgres.Lsn> began = new java.util.HashMap<>();
        for (int i = 0; i < forks.size(); i++) {
            int next = i + 1 < forks.size() ? forks.get(i + 1).tli() : serverTimeline;
            began.put(next, forks.get(i).begin());
        }
        for (int t = 2; t <= Math.min(serverTimeline, archivedTimeline); t++) {
            Optional<dev.tidemark.engine.postgres.Lsn> archivedStart = h.timelineStart(h.chain(), t);
            if (archivedStart.isEmpty()) {
                continue;
            }
            dev.tidemark.engine.postgres.Lsn serverStart = began.get(t);
            if (serverStart == null) {
                return "has no timeline " + t + " in its history, which the archive's WAL took at " + archivedStart.get();
            }
            if (!serverStart.equals(archivedStart.get())) {
                return "began timeline " + t + " at " + serverStart + ", but the archived timeline " + t + " began at " + archivedStart.get();
            }
        }
        return null;
    }

    private Integer primaryPort(DatabaseHistory db) {
        try {
            return db.pgUrl() == null ? null : PgConnections.parse(db.pgUrl(), null).port();
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** How long a restore request waits for the protected servers to say where their tablespaces are. */
    private static final Duration ASK_SERVERS = Duration.ofSeconds(5);

    /** The tablespace locations the links of the data directory base backups read (the standby's, with one) lead to. */
    private static List<Path> linkedLocations(DatabaseHistory h) {
        List<Path> locations = new ArrayList<>();
        if (h.pgdata() != null) {
            try (java.util.stream.Stream<Path> links = Files.list(Path.of(h.pgdata()).resolve("pg_tblspc"))) {
                for (Path link : links.filter(Files::isSymbolicLink).toList()) {
                    Path to = Files.readSymbolicLink(link);
                    locations.add(to.isAbsolute() ? to : link.getParent().resolve(to).normalize());
                }
            } catch (IOException | RuntimeException e) {
                // not readable here: the servers are asked too
            }
        }
        return locations;
    }

    /** The tablespace locations of a protected cluster, as its servers say now; none when they cannot be asked. */
    private List<Path> tablespaceLocations(DatabaseHistory h) {
        List<Path> locations = new ArrayList<>();
        for (String url : java.util.Arrays.asList(h.pgUrl(), h.standbyUrl())) {
            if (url == null) {
                continue;
            }
            try (Connection c = PgConnections.parse(url, config.pgPasswords().get(h.id())).open();
                 Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select pg_tablespace_location(oid) from pg_tablespace"
                         + " where spcname not in ('pg_default', 'pg_global')")) {
                while (rs.next()) {
                    String location = rs.getString(1);
                    if (location != null && !location.isBlank() && Path.of(location).isAbsolute()) {
                        locations.add(Path.of(location));
                    }
                }
            } catch (SQLException | IllegalArgumentException e) {
                // the server cannot be asked now: its data directory is still guarded
            }
        }
        return locations;
    }

    /** The names the database's server does not have; none when it cannot be asked now (the work says why later). */
    private List<String> missingDatabases(DatabaseHistory h, List<String> names) {
        if (names.isEmpty() || h.pgUrl() == null) {
            return List.of();
        }
        try (Connection c = PgConnections.parse(h.pgUrl(), config.pgPasswords().get(h.id())).open();
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select datname from pg_database")) {
            java.util.Set<String> have = new java.util.HashSet<>();
            while (rs.next()) {
                have.add(rs.getString(1));
            }
            return names.stream().filter(n -> !have.contains(n)).toList();
        } catch (SQLException | IllegalArgumentException e) {
            return List.of();
        }
    }

    /** The path with the links of its existing part resolved (the rest, not yet created, appended as written). */
    private static Path resolvedPath(Path p) {
        Path absolute = p.toAbsolutePath().normalize();
        Path existing = absolute;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return absolute;
        }
        try {
            return existing.toRealPath().resolve(existing.relativize(absolute)).normalize();
        } catch (java.io.IOException e) {
            return absolute;
        }
    }

    /** What registration learns of a server: its system identifier, its own port and whether it is a standby. */
    private record ServerFacts(String systemId, int port, boolean standby) {
    }

    /** Whether a recorded URL names the server at the same host and port (its chain is known only after its first WAL). */
    private static boolean sameServer(String url, PgConnections server) {
        try {
            PgConnections other = PgConnections.parse(url, null);
            if (other.port() != server.port()) {
                return false;
            }
            if (other.host().equalsIgnoreCase(server.host())) {
                return true;
            }
            // another name of the same host (localhost and 127.0.0.1, say): the addresses they stand for
            java.util.Set<java.net.InetAddress> theirs = java.util.Set.of(java.net.InetAddress.getAllByName(other.host()));
            for (java.net.InetAddress mine : java.net.InetAddress.getAllByName(server.host())) {
                if (theirs.contains(mine) || mine.isLoopbackAddress() && theirs.stream().anyMatch(java.net.InetAddress::isLoopbackAddress)) {
                    return true;
                }
            }
            return false;
        } catch (IllegalArgumentException | NullPointerException | java.net.UnknownHostException e) {
            return false;
        }
    }

    /** Refuses a server that cannot be protected, saying what to change. */
    private static ServerFacts checkServer(PgConnections server, String role) {
        ServerFacts facts;
        try (Connection c = server.open(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("select current_setting('wal_level'), current_setting('max_wal_senders')::int,"
                     + " (select setting::bigint from pg_settings where name = 'wal_segment_size'),"
                     + " (select system_identifier::text from pg_control_system()), current_setting('port')::int, pg_is_in_recovery()")) {
            r.next();
            facts = new ServerFacts(r.getString(4), r.getInt(5), r.getBoolean(6));
            if (r.getLong(3) != DatabaseHistory.SEGMENT_SIZE) { // the size the catalog and the window count in
                throw new InvalidRequestException("the " + role + " at " + server + " writes WAL segments of " + (r.getLong(3) >> 20)
                        + " MiB (initdb --wal-segsize): Tidemark handles the default 16 MiB segments only");
            }
            if ("minimal".equals(r.getString(1))) {
                throw new InvalidRequestException("the " + role + " at " + server + " runs with wal_level = minimal: set wal_level = replica "
                        + "and restart it");
            }
            if (r.getInt(2) < 2) {
                throw new InvalidRequestException("the " + role + " at " + server + " allows " + r.getInt(2) + " WAL senders: set "
                        + "max_wal_senders to at least 2 per protected cluster");
            }
            checkPrivileges(c, server, role); // on the same session
        } catch (SQLException e) {
            throw new InvalidRequestException("cannot connect to the " + role + " at " + server + ": " + connectionFailure(e)
                    + " (check the URL, pg_hba.conf and the password configured for this database)");
        }
        try (Connection c = server.openReplication(); Statement s = c.createStatement()) {
            s.execute("IDENTIFY_SYSTEM");
        } catch (SQLException e) {
            throw new InvalidRequestException("the " + role + " at " + server + " refuses a replication connection: " + e.getMessage()
                    + " (the role needs REPLICATION, and pg_hba.conf a 'replication' line for it)");
        }
        return facts;
    }

    /**
     * Refuses a role that could stream but not take base backups (pg_backup_start/stop) or dumps (read every table):
     * its backups would all fail later, and the window would never open.
     */
    private static void checkPrivileges(Connection c, PgConnections server, String role) {
        List<String> missing = new ArrayList<>();
        try (Statement s = c.createStatement();
             ResultSet r = s.executeQuery("select rolsuper, current_setting('server_version_num')::int from pg_roles"
                     + " where rolname = current_user")) {
            if (!r.next() || r.getBoolean(1)) {
                return;
            }
            int version = r.getInt(2);
            List<String> functions = version >= 150000 ? List.of("pg_backup_start(text, boolean)", "pg_backup_stop(boolean)")
                    : List.of("pg_start_backup(text, boolean, boolean)", "pg_stop_backup(boolean, boolean)");
            for (String function : functions) {
                try (PreparedStatement p = c.prepareStatement("select has_function_privilege(?, 'execute')")) {
                    p.setString(1, function);
                    try (ResultSet f = p.executeQuery()) {
                        if (f.next() && !f.getBoolean(1)) {
                            missing.add("GRANT EXECUTE ON FUNCTION " + function + " TO " + server.user() + ";");
                        }
                    }
                }
            }
            // before PostgreSQL 14 there is no pg_read_all_data: the role's grants on each table are its operator's business
            if (version >= 140000) {
                // 'usage': a member whose privileges apply (a NOINHERIT role's would not)
                try (ResultSet d = s.executeQuery("select pg_has_role('pg_read_all_data', 'usage')")) {
                    if (d.next() && !d.getBoolean(1)) {
                        missing.add("GRANT pg_read_all_data TO " + server.user() + ";");
                    }
                }
            }
        } catch (SQLException e) {
            throw new InvalidRequestException("cannot check the privileges of " + server.user() + " on the " + role + " at " + server
                    + ": " + e.getMessage());
        }
        if (!missing.isEmpty()) {
            throw new InvalidRequestException("the role " + server.user() + " on the " + role + " at " + server + " may not take "
                    + "base backups and dumps (nothing was registered); as a superuser, run: " + String.join(" ", missing)
                    + " (see docs/operations.md)");
        }
    }

    /** What a failed connection says, with the one cause that misleads (an SSL error from something that is not PostgreSQL). */
    private static String connectionFailure(SQLException e) {
        String message = e.getMessage();
        if (message != null && message.contains("setting up the SSL connection")) {
            return "what answers there is not a PostgreSQL server (it did not answer PostgreSQL's connection request: " + message + ")";
        }
        return message;
    }

    DatabaseView changePolicy(String databaseId, PolicyChange change, String actor) {
        DatabaseHistory h = views.history(databaseId);
        if (change == null) {
            throw new InvalidRequestException("no policy change given");
        }
        java.util.Map<String, Integer> counts = new java.util.LinkedHashMap<>();
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
                change.weeklyDumps(), change.monthlyDumps(), change.manualDumps());
        catalog.send(new Commands.ChangePolicy(databaseId, policy, clock.instant()), actor);
        return views.database(databaseId);
    }

    void deregister(String databaseId, boolean purge, String actor) {
        DatabaseHistory h = views.history(databaseId);
        // work under way would outlive the registration: its result could not be recorded, nor its objects purged
        String busy = h.workUnderWayRefusal("deregister");
        if (busy != null) {
            throw CatalogRejection.conflict(busy);
        }
        catalog.send(new Commands.DeregisterDatabase(databaseId, purge, clock.instant()), actor);
    }

    BackupView baseBackup(String databaseId, String trigger, String actor) {
        views.history(databaseId);
        String backupId = Work.newId("base", clock.instant());
        catalog.send(new Commands.RequestBaseBackup(databaseId, backupId, trigger, clock.instant()), actor);
        return views.baseBackup(databaseId, backupId);
    }

    DumpView dump(String databaseId, List<String> databases, String trigger, String actor) {
        DatabaseHistory h = views.history(databaseId);
        List<String> names = databases == null ? List.of() : List.copyOf(new java.util.LinkedHashSet<>(databases)); // each once
        List<String> missing = missingDatabases(h, names);
        if (!missing.isEmpty()) {
            throw new InvalidRequestException("no database " + String.join(", ", missing) + " on the server of " + databaseId
                    + ": name databases it has, or none to dump them all (nothing was recorded)");
        }
        String dumpId = Work.newId("dump", clock.instant());
        catalog.send(new Commands.RequestDump(databaseId, dumpId, names, trigger, clock.instant()), actor);
        return views.dump(databaseId, dumpId);
    }

    // one request at a time: two asked at once must each see the other's target (refuseOverlap)
    synchronized RestoreView restore(String databaseId, RestoreRequest request, String actor) {
        if (views.history(databaseId).purged()) {
            throw new InvalidRequestException("database " + databaseId + " was deregistered with its backups and WAL purged:"
                    + " nothing of it can be restored");
        }
        if (request == null || (request.time() == null) == !request.latest()) {
            throw new InvalidRequestException("give exactly one restore target: time (ISO-8601 with an offset, e.g. "
                    + "2026-11-24T10:41:07+01:00) or latest = true");
        }
        if (request.inPlace() && (request.targetDir() != null || request.port() != null)) {
            throw new InvalidRequestException("an in-place restore uses the database's own directory and port: leave targetDir and port out");
        }
        if (!request.inPlace() && (request.targetDir() == null || request.port() == null)) {
            throw new InvalidRequestException("a restore needs a new data directory (targetDir, absolute) and a port, or inPlace = true");
        }
        if (!request.inPlace() && !Path.of(request.targetDir()).isAbsolute()) {
            throw new InvalidRequestException("targetDir must be an absolute path, not '" + request.targetDir() + "'");
        }
        if (!request.inPlace()) {
            refuseOverlap(Path.of(request.targetDir()), request.port(), views.history(databaseId));
        } else if (request.port() == null && catalog.view().databases().stream().flatMap(d -> d.restores().stream())
                .anyMatch(r -> r.inProgress() && !r.inPlace() && r.port() != null
                        && r.port().equals(primaryPort(views.history(databaseId))))) {
            throw CatalogRejection.conflict("a running restore uses port " + primaryPort(views.history(databaseId)) + ", the port "
                    + databaseId + " is restored in place on: wait for it to end");
        } else if (views.history(databaseId).standbyUrl() != null) {
            throw new InvalidRequestException("an in-place restore replaces pgdata, which is the standby's data directory here (base"
                    + " backups are read from the standby): restore beside it (targetDir and port), or first point the database at"
                    + " the primary's data directory without the standby (tidemark db connection " + databaseId
                    + " --pgdata PRIMARY_DATA_DIR --no-standby; stop the primary before the restore, and rebuild the standby after it)");
        }
        streams.flush(databaseId);
        DatabaseHistory h = views.history(databaseId);
        Instant now = clock.instant();
        Commands.LiveWal live = streams.live(databaseId);
        Instant target = request.latest() ? null : request.time().toInstant();
        RestorePlan plan = RestorePlan.plan(h, target, now, live);
        String restoreId = Work.newId("restore", now);
        try {
            work.restoreRunner(h).check(work.pitrRequest(h, restoreId, plan.backup().id(), plan.backup().manifestSha256(), target,
                    request.targetDir(), request.port(), request.inPlace()));
        } catch (IOException e) {
            throw new InvalidRequestException("restore refused before anything was written: " + e.getMessage());
        }
        catalog.send(new Commands.RequestRestore(databaseId, restoreId, "pitr", target, request.latest(), request.targetDir(),
                request.port(), request.inPlace(), null, null, null, live, now), actor);
        return views.restore(databaseId, restoreId);
    }

    /** A restore beside must not land inside (or around) a live data directory, the engine's own data or the repository. */
    private void refuseOverlap(Path target, Integer port, DatabaseHistory h) {
        // compared as written and with every link resolved: a link on the way must not lead into a guarded directory
        List<Path> targets = List.of(target.toAbsolutePath().normalize(), resolvedPath(target));
        List<Path> guarded = new ArrayList<>();
        guarded.add(config.dataDirectory());
        // a base backup of a protected cluster would copy a restore inside its tablespace: the servers are asked all at
        // once, and for a few seconds at most (one that cannot answer in time counts with what its data directory's
        // links say), so an unreachable server does not hold every restore request up by its connect timeout
        ExecutorService ask = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<List<Path>>> asked = new ArrayList<>();
        for (DatabaseHistory db : catalog.view().databases()) {
            guarded.add(Path.of(db.pgdata()));
            if (db.active()) {
                asked.add(ask.submit(() -> tablespaceLocations(db)));
                guarded.addAll(linkedLocations(db)); // read here meanwhile, whatever the servers answer
            }
        }
        ask.shutdown();
        long deadline = System.nanoTime() + ASK_SERVERS.toNanos();
        for (Future<List<Path>> locations : asked) {
            try {
                guarded.addAll(locations.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
            } catch (TimeoutException | ExecutionException e) {
                // not in time: the links of its data directory count all the same
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while checking the restore's target", e);
            }
        }
        ask.shutdownNow(); // those not in time are given up on
        String uri = config.repository().uri();
        if (uri != null && uri.startsWith("file:")) {
            guarded.add(Path.of(java.net.URI.create(uri)));
        }
        List<Path> guards = new ArrayList<>();
        for (Path g : guarded) {
            guards.add(g.toAbsolutePath().normalize());
            guards.add(resolvedPath(g));
        }
        Path t = targets.get(0);
        for (DatabaseHistory db : catalog.view().databases()) {
            for (DatabaseHistory.Restore r : db.restores()) {
                Integer runningPort = r.inPlace() ? primaryPort(db) : r.port(); // in place: the database's own port
                if (r.inProgress() && port != null && port.equals(runningPort)) {
                    throw CatalogRejection.conflict("port " + port + " is the port of restore " + r.id() + " of " + db.id() + ", which is "
                            + r.status() + ": choose another port");
                }
                if (r.inProgress() && r.targetDir() != null && !r.inPlace()) {
                    Path other = Path.of(r.targetDir()).toAbsolutePath().normalize();
                    if (targets.stream().anyMatch(x -> x.startsWith(other) || other.startsWith(x))) {
                        throw CatalogRejection.conflict("targetDir " + t + " overlaps " + other + ", the target of restore " + r.id()
                                + " of " + db.id() + ", which is " + r.status() + ": choose another directory");
                    }
                }
            }
        }
        for (Path g : guards) {
            if (targets.stream().anyMatch(x -> x.startsWith(g) || g.startsWith(x))) {
                throw new InvalidRequestException("targetDir " + t + " overlaps " + g + " (a database's data directory or tablespace, the"
                        + " engine's data or the repository): choose a directory outside them");
            }
        }
    }

    /** Cancels a point-in-time restore that is requested or running; what it did is undone as for a failed one. */
    RestoreView cancelRestore(String databaseId, String restoreId, String actor) {
        DatabaseHistory h = views.history(databaseId);
        DatabaseHistory.Restore r = h.restore(restoreId).orElseThrow(() -> new dev.tidemark.engine.operations.NotFoundException(
                "database " + databaseId + " has no restore " + restoreId));
        if (!"requested".equals(r.status()) && !"running".equals(r.status())) {
            throw CatalogRejection.conflict("restore " + restoreId + " is " + r.status() + ": there is nothing to cancel");
        }
        if ("dump".equals(r.kind())) {
            throw CatalogRejection.conflict("restore " + restoreId + " restores a dump in one pg_restore transaction: it completes or"
                    + " changes nothing, and is not cancelled halfway");
        }
        if (!work.cancelRestore(databaseId, restoreId, actor)) {
            throw CatalogRejection.conflict("restore " + restoreId + " runs on node " + h.owner() + ": ask that node to cancel it");
        }
        LOG.info("restore {} of {}: cancelled by {}; it stops at its next step and undoes what it did", restoreId, databaseId, actor);
        return views.restore(databaseId, restoreId);
    }

    RestoreView restoreDump(String databaseId, String dumpId, String database, String targetDatabase, boolean replace, String actor) {
        DatabaseHistory h = views.history(databaseId);
        if (h.purged()) {
            throw CatalogRejection.conflict("database " + databaseId + " was deregistered with its backups purged: dump " + dumpId
                    + " no longer exists (nothing was recorded)");
        }
        if (database == null || targetDatabase == null) {
            throw new InvalidRequestException("a dump restore needs the dumped database and the name of an existing target database");
        }
        if (!PgConnections.isDatabaseName(targetDatabase)) {
            throw new InvalidRequestException("'" + targetDatabase + "' is not a PostgreSQL database name (1 to 63 bytes, no control"
                    + " characters)");
        }
        h.dump(dumpId).filter(d -> d.archives().stream().noneMatch(a -> a.database().equals(database))).ifPresent(d -> {
            throw new InvalidRequestException("dump " + dumpId + " holds no database '" + database + "'; it holds "
                    + d.archives().stream().map(DumpArchive::database).toList() + " (nothing was recorded)");
        });
        String role = h.pgUrl() == null ? "ROLE" : PgConnections.parse(h.pgUrl(), null).user();
        requireTargetDatabase(h, targetDatabase, role);
        if (!replace) {
            long objects = userRelations(h, targetDatabase);
            if (objects > 0) {
                throw CatalogRejection.conflict("database " + targetDatabase + " on the server of " + databaseId + " is not empty (" + objects
                        + " tables, views or sequences): the restore drops and re-creates every object the dump holds, and their"
                        + " data with them. Restore into an empty database (createdb -O " + role + " NAME), or ask again with"
                        + " replace (CLI: --replace) to overwrite (nothing was recorded)");
            }
        }
        String restoreId = Work.newId("restore", clock.instant());
        catalog.send(new Commands.RequestRestore(databaseId, restoreId, "dump", null, false, null, null, false, dumpId, database,
                targetDatabase, null, clock.instant()), actor);
        return views.restore(databaseId, restoreId);
    }

    /**
     * A dump is restored into an existing database, with pg_restore --clean dropping and creating the dump's objects as
     * the role Tidemark connects as: a database that is missing, or that the role does not own (nor is a superuser for),
     * would fail late, so it is refused up front. So is a template (template0, template1, or one marked so): every database
     * created later is copied from it.
     */
    private void requireTargetDatabase(DatabaseHistory h, String database, String role) {
        try (Connection c = PgConnections.parse(h.pgUrl(), config.pgPasswords().get(h.id())).open();
             PreparedStatement st = c.prepareStatement("select r.rolsuper or pg_has_role(d.datdba, 'usage'),"
                     + " pg_get_userbyid(d.datdba), d.datistemplate from pg_roles r, pg_database d where r.rolname = current_user"
                     + " and d.datname = ?")) {
            st.setString(1, database);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    throw new InvalidRequestException("target database " + database + " does not exist on the server of " + h.id()
                            + ": create it first, owned by the role Tidemark connects as (createdb -O " + role + " NAME); a dump is"
                            + " restored into an existing database (nothing was recorded)");
                }
                if (rs.getBoolean(3)) {
                    throw new InvalidRequestException("database " + database + " is a template: every database created later is a copy"
                            + " of it, so a dump is never restored into it. Create a database for the dump (createdb -O " + role
                            + " NAME) and restore into that (nothing was recorded)");
                }
                if (!rs.getBoolean(1)) {
                    throw new InvalidRequestException("database " + database + " belongs to " + rs.getString(2) + ", and the dump is"
                            + " restored as " + role + ", which may not replace its objects: restore into a database " + role
                            + " owns (createdb -O " + role + " NAME, or ALTER DATABASE ... OWNER TO " + role + ") (nothing was"
                            + " recorded)");
                }
            }
        } catch (SQLException | IllegalArgumentException e) {
            throw new InvalidRequestException("cannot ask the server of " + h.id() + " who owns database " + database + ": "
                    + e.getMessage() + " (nothing was recorded)");
        }
    }

    /** The tables, views and sequences of a database outside the system schemas; refused when it cannot be asked now. */
    private long userRelations(DatabaseHistory h, String database) {
        try (Connection c = PgConnections.parse(h.pgUrl(), config.pgPasswords().get(h.id())).withDatabase(database).open();
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                     + " where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'"
                     + " and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')")) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException | IllegalArgumentException e) {
            throw new InvalidRequestException("cannot look into database " + database + " on the server of " + h.id() + ": "
                    + e.getMessage() + " (nothing was recorded)");
        }
    }

    /** What the scheduler does every tick: weekly base backups, daily dumps and retention, per database policy. */
    void scheduledTick() {
        for (DatabaseHistory h : catalog.view().databases()) {
            if (!h.active()) {
                continue;
            }
            try {
                tick(h);
            } catch (RuntimeException e) {
                LOG.warn("scheduled jobs of {} failed: {}", h.id(), e.getMessage());
            }
        }
    }

    private void tick(DatabaseHistory h) {
        Instant now = clock.instant();
        Policy policy = h.policy();
        Instant weekly = Schedules.lastWeekly(policy.baseBackupSchedule(), now);
        java.util.function.Predicate<SlotJob> countsForWeekly = countsForSlot(h.baseBackups().stream().map(SlotJob::of).toList(), now);
        java.util.function.Predicate<DatabaseHistory.BaseBackup> counts = b -> countsForWeekly.test(SlotJob.of(b));
        boolean anyBackup = h.baseBackups().stream().anyMatch(counts);
        Instant lastBackup = h.baseBackups().stream().filter(counts)
                .map(DatabaseHistory.BaseBackup::requestedAt).max(Instant::compareTo).orElse(null);
        if (anyBackup && !Schedules.due(weekly, lastBackup) && !weekly.equals(slotCovered.put(h.id(), weekly))
                && lastBackup != null && lastBackup.isAfter(weekly)) {
            h.baseBackups().stream().filter(b -> b.requestedAt().equals(lastBackup)).findFirst()
                    .filter(b -> !"scheduled".equals(b.trigger()) && !"failed".equals(b.status()))
                    .ifPresent(b -> LOG.info("scheduled base backup of {} for {} not asked for: base backup {} ({}) was asked for after"
                            + " that slot and counts for it", h.id(), weekly, b.id(), b.trigger()));
        }
        if ((!anyBackup || Schedules.due(weekly, lastBackup)) && h.runningBaseBackup().isEmpty()) {
            ask(() -> baseBackup(h.id(), "scheduled", SCHEDULER), "base backup", h.id());
        } else if (h.runningBaseBackup().isEmpty()) {
            tablespaceNotInNewestBackup(h, now).ifPresent(why -> {
                // a backup read from a standby starts at its last restartpoint, which follows the primary's checkpoints:
                // one now, so the new backup starts after the CREATE TABLESPACE (best effort: it needs the privilege)
                try (Connection c = PgConnections.parse(h.pgUrl(), config.pgPasswords().get(h.id())).open();
                     Statement st = c.createStatement()) {
                    st.execute("checkpoint");
                } catch (SQLException | IllegalArgumentException e) {
                    LOG.info("scheduled base backup of {}: no checkpoint on the primary first ({})", h.id(), e.getMessage());
                }
                ask(() -> baseBackup(h.id(), "tablespace", SCHEDULER), "base backup (" + why + ")", h.id());
            });
        }
        Instant daily = Schedules.lastDaily(policy.dumpSchedule(), now);
        List<SlotJob> scheduledDumps = h.dumps().stream().filter(d -> "scheduled".equals(d.trigger())).map(SlotJob::of).toList();
        Instant lastDump = scheduledDumps.stream().filter(countsForSlot(scheduledDumps, now))
                .map(SlotJob::requestedAt).max(Instant::compareTo).orElse(null);
        if (h.registeredAt().isBefore(daily) && Schedules.due(daily, lastDump) && h.runningDump().isEmpty()) {
            ask(() -> dump(h.id(), List.of(), "scheduled", SCHEDULER), "dump", h.id());
        }
        expire(h.id(), now);
        Instant checked = continuityChecked.get(h.id());
        if (checked == null || Duration.between(checked, now).compareTo(Duration.ofHours(1)) >= 0) {
            continuityChecked.put(h.id(), now);
            checkContinuity(h.id());
        }
    }

    /** A base backup or dump, as far as the scheduler weighs it against its slot. */
    private record SlotJob(String status, String trigger, String failure, Instant requestedAt) {
        static SlotJob of(DatabaseHistory.BaseBackup b) {
            return new SlotJob(b.status(), b.trigger(), b.failure(), b.requestedAt());
        }

        static SlotJob of(DatabaseHistory.Dump d) {
            return new SlotJob(d.status(), d.trigger(), d.failure(), d.requestedAt());
        }

        boolean interrupted() {
            return Work.INTERRUPTED.equals(failure);
        }
    }

    /**
     * Which of a database's jobs of one kind count for their schedule slot: one completed or running; a failed one the
     * scheduler asked for, for an hour (the scheduler retries hourly, not every check); never one failed that an operator
     * asked for, nor the first in an hour cut short by the engine's stop (nothing wrong with the database: asked again at
     * once; a second one may be what stops the engine, out of memory say, and waits the hour).
     */
    private static java.util.function.Predicate<SlotJob> countsForSlot(List<SlotJob> jobs, Instant now) {
        Instant hourAgo = now.minus(Duration.ofHours(1));
        boolean retryInterrupted = jobs.stream()
                .filter(j -> !"manual".equals(j.trigger()) && j.interrupted() && j.requestedAt().isAfter(hourAgo)).count() <= 1;
        return j -> !"failed".equals(j.status())
                || !"manual".equals(j.trigger()) && !(retryInterrupted && j.interrupted()) && j.requestedAt().isAfter(hourAgo);
    }

    /** Per database, the weekly slot last found covered by a base backup asked for after it (said once per slot). */
    private final Map<String, Instant> slotCovered = new java.util.concurrent.ConcurrentHashMap<>();

    /** Of a completed base backup: the tablespace oids it holds, and the locations its own WAL window creates. */
    private record BackupTablespaces(java.util.Set<String> held, List<String> createdDuring) {
    }

    /** Per completed base backup, read once from its manifest and its WAL window. */
    private final Map<String, BackupTablespaces> backupTablespaces = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * A tablespace of the server that the newest completed base backup does not hold. A restore replays its CREATE
     * TABLESPACE at the source's own location, so a copy beside cannot be made from an older backup past that point:
     * a base backup follows, as PostgreSQL's documentation advises, and restores after it relocate the tablespace.
     * Not again within an hour of such a backup failing; nothing when the server cannot be asked now.
     */
    private Optional<String> tablespaceNotInNewestBackup(DatabaseHistory h, Instant now) {
        Optional<DatabaseHistory.BaseBackup> newest = h.baseBackups().stream().filter(b -> "completed".equals(b.status()))
                .max(java.util.Comparator.comparing(DatabaseHistory.BaseBackup::completedAt));
        boolean failedLately = h.baseBackups().stream().anyMatch(b -> "tablespace".equals(b.trigger()) && "failed".equals(b.status())
                && b.requestedAt().isAfter(now.minus(Duration.ofHours(1))))
                // one that began before the CREATE anyway (a standby with no restartpoint since): not again at every tick
                || h.baseBackups().stream().filter(b -> "tablespace".equals(b.trigger()))
                .filter(b -> b.requestedAt().isAfter(now.minus(Duration.ofMinutes(10)))).count() >= 2;
        if (newest.isEmpty() || failedLately || h.pgUrl() == null) {
            return Optional.empty();
        }
        DatabaseHistory.BaseBackup b = newest.get();
        BackupTablespaces known = backupTablespaces.computeIfAbsent(b.id(), id -> {
            try (java.io.InputStream in = repository.openDecoded(b.manifestKey(), b.manifestSha256())) {
                dev.tidemark.engine.basebackup.BackupManifest m = dev.tidemark.engine.basebackup.BackupManifest.fromJson(in, b.manifestKey());
                return new BackupTablespaces(m.tablespaces().stream().map(dev.tidemark.engine.basebackup.BackupManifest.Tablespace::oid)
                        .collect(java.util.stream.Collectors.toSet()),
                        // a tablespace created while that backup ran is in it, but its replay points a copy at the source's location
                        dev.tidemark.engine.restore.WalScan.tablespacesCreatedDuring(repository, m, config.dataDirectory()));
            } catch (IOException | RuntimeException e) {
                return null; // asked again at the next tick
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        });
        if (known == null) {
            return Optional.empty();
        }
        java.util.Set<String> held = known.held();
        List<String> createdDuring = known.createdDuring();
        if (!createdDuring.isEmpty()) {
            return Optional.of("a tablespace at " + createdDuring.get(0) + " was created while base backup " + b.id() + " ran");
        }
        try (Connection c = PgConnections.parse(h.pgUrl(), config.pgPasswords().get(h.id())).open();
             Statement st = c.createStatement();
             // only tablespaces with a location of their own: an in-place one (LOCATION '') is backed up as files of pg_tblspc
             ResultSet rs = st.executeQuery("select oid::text, spcname from pg_tablespace where spcname not in ('pg_default', 'pg_global')"
                     + " and pg_tablespace_location(oid) like '/%'")) {
            while (rs.next()) {
                if (!held.contains(rs.getString(1))) {
                    return Optional.of("tablespace " + rs.getString(2) + " was created after base backup " + b.id());
                }
            }
        } catch (SQLException | IllegalArgumentException e) {
            // the server cannot be asked now: the stream reports that; the next tick asks again
        }
        return Optional.empty();
    }

    /**
     * The WAL continuity check: every segment the catalog records must be in the repository (complete, or as the
     * partial of the newest one). A missing one is recorded, so the window ends before it instead of promising a
     * moment no restore can reach. Returns the number of missing segments.
     */
    int checkContinuity(String databaseId) {
        streams.flush(databaseId);
        DatabaseHistory h = views.history(databaseId);
        Map<String, java.util.Set<String>> present = new java.util.HashMap<>();
        Map<String, List<String>> missing = new java.util.TreeMap<>();
        try {
            for (DatabaseHistory.WalRange r : h.wal()) {
                java.util.Set<String> names = present.get(r.chain());
                if (names == null) {
                    names = new java.util.HashSet<>();
                    for (String key : list(repository.layout().walPrefix(databaseId, r.chain()))) {
                        String name = key.substring(key.lastIndexOf('/') + 1);
                        if (name.matches("[0-9A-F]{24}(\\.partial)?")) {
                            names.add(name.substring(0, 24));
                        }
                    }
                    present.put(r.chain(), names);
                }
                for (long n = r.first(); n <= r.last(); n++) {
                    String name = new WalSegment(r.timeline(), n, 16L << 20).name();
                    if (!names.contains(name)) {
                        missing.computeIfAbsent(r.chain() + "/" + r.timeline(), k -> new ArrayList<>()).add(name);
                    }
                }
            }
        } catch (IOException e) {
            LOG.warn("WAL continuity check of {} could not list the repository: {}", databaseId, e.getMessage());
            return 0;
        }
        int count = 0;
        for (Map.Entry<String, List<String>> m : missing.entrySet()) {
            String[] chainAndTimeline = m.getKey().split("/");
            // the catalog keeps those still recorded: retention may have cut the others between the listing and now
            List<String> lost = catalog.send(new Commands.RecordWalMissing(databaseId, chainAndTimeline[0],
                    Integer.parseInt(chainAndTimeline[1]), m.getValue(), clock.instant()), SCHEDULER);
            if (lost != null && !lost.isEmpty()) {
                LOG.error("WAL continuity check of {}: {} recorded segments are missing from the repository (first {}); the recovery "
                        + "window now ends before them: take a base backup, and find out what removed them", databaseId, lost.size(),
                        lost.get(0));
                count += lost.size();
            }
        }
        return count;
    }

    private void ask(Runnable request, String what, String databaseId) {
        try {
            request.run();
            LOG.info("scheduled {} of {} asked for", what, databaseId);
        } catch (CatalogRejection e) {
            LOG.info("scheduled {} of {} not asked for: {}", what, databaseId, e.getMessage());
        }
    }

    /** Applies retention: records what expires, then deletes its objects (an object outliving its record is only space). */
    void expire(String databaseId, Instant now) {
        DatabaseHistory h = views.history(databaseId);
        Retention retention = Retention.expire(h, now);
        if (retention.isEmpty()) {
            return;
        }
        catalog.send(new Commands.ExpireBackups(databaseId, retention.baseBackupIds(), retention.dumpIds(), retention.walCuts(), now),
                SCHEDULER);
        List<String> keys = new ArrayList<>();
        try {
            for (String backupId : retention.baseBackupIds()) {
                keys.addAll(list(repository.layout().baseBackupPrefix(databaseId, backupId)));
            }
            for (String dumpId : retention.dumpIds()) {
                keys.addAll(list(repository.layout().dumpPrefix(databaseId, dumpId)));
            }
            for (WalCut cut : retention.walCuts()) {
                for (String key : list(repository.layout().walPrefix(databaseId, cut.chain()))) {
                    String name = key.substring(key.lastIndexOf('/') + 1);
                    if (name.endsWith(".history")) {
                        continue;
                    }
                    String segment = name.length() >= 24 ? name.substring(0, 24) : name;
                    if (!segment.matches("[0-9A-F]{24}")) {
                        continue;
                    }
                    if (cut.beforeSegment() == null || WalSegment.parse(segment, 16L << 20).number() < cut.beforeSegment()) {
                        keys.add(key);
                    }
                }
            }
            repository.store().deleteAll(keys);
            LOG.info("retention of {}: {} base backups, {} dumps and {} WAL cuts expired, {} objects deleted", databaseId,
                    retention.baseBackupIds().size(), retention.dumpIds().size(), retention.walCuts().size(), keys.size());
        } catch (IOException | RuntimeException e) {
            LOG.warn("retention of {} recorded, but deleting its objects failed ({}); they are retried at the next expiry", databaseId,
                    e.getMessage());
        }
    }

    private List<String> list(String prefix) throws IOException {
        try (Stream<ObjectInfo> objects = repository.store().list(prefix)) {
            return objects.map(ObjectInfo::key).toList();
        }
    }
}
