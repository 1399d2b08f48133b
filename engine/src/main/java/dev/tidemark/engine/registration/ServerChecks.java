package dev.tidemark.engine.registration;

import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.node.ResolvedPath;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.postgres.DataDirectoryIdentity;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.engine.restore.RestoreRunner;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The checks of the servers and data directory a database is to be reached by (at registration, or a change of them):
 * reachable for SQL and replication, configured and privileged to be protected, one system, protected once.
 */
final class ServerChecks {
    private final Node node;

    ServerChecks(Node node) {
        this.node = node;
    }

    /** Where a database is reached, checked: URLs normalised, the data directory as given. */
    record Reach(String pgUrl, String pgdata, String standbyUrl, String systemId) {
    }

    /**
     * Checks the servers and the data directory a database is to be reached by (at registration, or a change of them):
     * both servers reachable for SQL and replication and of one system, the standby in recovery, the data directory
     * the live one of the server base backups read, and no other database's. except: the database being changed.
     */
    Reach checkReach(String databaseId, String pgUrl, String pgdataText, String standbyUrlText, String except) {
        if (pgdataText == null || pgdataText.isBlank() || !Path.of(pgdataText).isAbsolute()) {
            throw new InvalidRequestException("pgdata must be the absolute path of the data directory base backups read, not '"
                    + pgdataText + "'");
        }
        PgConnections primary = node.credentials().server(databaseId, pgUrl);
        String refused = except == null ? "nothing was registered" : "nothing was changed";
        ServerFacts primaryFacts = checkServer(primary, "primary", refused);
        ServerFacts backupSource = primaryFacts;
        PgConnections backupServer = primary;
        String standbyUrl = null;
        if (standbyUrlText != null && !standbyUrlText.isBlank()) {
            PgConnections standby = node.credentials().server(databaseId, standbyUrlText);
            ServerFacts standbyFacts = checkServer(standby, "standby", refused);
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
        Path same = ResolvedPath.of(pgdata);
        for (DatabaseHistory other : node.catalog().view().databases()) {
            if (!"deregistered".equals(other.status()) && !other.id().equals(except) && other.pgdata() != null
                    && ResolvedPath.of(Path.of(other.pgdata())).equals(same)) {
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
    private static ServerFacts checkServer(PgConnections server, String role, String refused) {
        ServerFacts facts;
        try (Connection c = server.open()) {
            ServerQueries.ProtectionSettings settings = new ServerQueries(c).protectionSettings();
            facts = new ServerFacts(settings.systemId(), settings.port(), settings.inRecovery());
            if (settings.walSegmentSize() != DatabaseHistory.SEGMENT_SIZE) { // the size the catalog and the window count in
                throw new InvalidRequestException("the " + role + " at " + server + " writes WAL segments of "
                        + (settings.walSegmentSize() >> 20) + " MiB (initdb --wal-segsize): Tidemark handles the default 16 MiB segments only");
            }
            if ("minimal".equals(settings.walLevel())) {
                throw new InvalidRequestException("the " + role + " at " + server + " runs with wal_level = minimal: set wal_level = replica "
                        + "and restart it");
            }
            if (settings.maxWalSenders() < 2) {
                throw new InvalidRequestException("the " + role + " at " + server + " allows " + settings.maxWalSenders()
                        + " WAL senders: set max_wal_senders to at least 2 per protected cluster");
            }
            checkPrivileges(c, server, role, refused); // on the same session
        } catch (SQLException e) {
            throw new InvalidRequestException("cannot connect to the " + role + " at " + server + ": " + connectionFailure(e)
                    + " (check the URL, pg_hba.conf and the password configured for this database)");
        }
        try (Connection c = server.openReplication()) {
            new ServerQueries(c).identifySystem();
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
    private static void checkPrivileges(Connection c, PgConnections server, String role, String refused) {
        List<String> missing = new ArrayList<>();
        try {
            ServerQueries queries = new ServerQueries(c);
            Optional<ServerQueries.Role> current = queries.currentRole();
            if (current.isEmpty() || current.get().superuser()) {
                return;
            }
            int version = current.get().versionNum();
            List<String> functions = version >= 150000 ? List.of("pg_backup_start(text, boolean)", "pg_backup_stop(boolean)")
                    : List.of("pg_start_backup(text, boolean, boolean)", "pg_stop_backup(boolean, boolean)");
            for (String function : functions) {
                if (!queries.mayExecute(function)) {
                    missing.add("GRANT EXECUTE ON FUNCTION " + function + " TO " + server.user() + ";");
                }
            }
            // before PostgreSQL 14 there is no pg_read_all_data: the role's grants on each table are its operator's business
            if (version >= 140000) {
                if (!queries.mayReadAllData()) {
                    missing.add("GRANT pg_read_all_data TO " + server.user() + ";");
                }
            }
        } catch (SQLException e) {
            throw new InvalidRequestException("cannot check the privileges of " + server.user() + " on the " + role + " at " + server
                    + ": " + e.getMessage());
        }
        if (!missing.isEmpty()) {
            throw new InvalidRequestException("the role " + server.user() + " on the " + role + " at " + server + " may not take "
                    + "base backups and dumps (" + refused + "); as a superuser, run: " + String.join(" ", missing)
                    + " (see docs/operations.md)");
        }
    }

    /** What a failed connection says, with the one cause that misleads (an SSL error from something that is not PostgreSQL). */
    private static String connectionFailure(SQLException e) {
        String message = e.getMessage();
        if (message != null && message.contains("setting up the SSL connection")) {
            return "what answers there is not a PostgreSQL server (it did not answer PostgreSQL's connection request: " + message + ")";
        }
        if (message != null && message.contains("no password was provided")) {
            return "the server asks for a password and none is configured for this database: set tidemark.pg-passwords.<database id>"
                    + " (environment: TIDEMARK_PGPASSWORDS_<DATABASE ID>, '-' written as '_') and restart the engine, which reads"
                    + " passwords at start";
        }
        return message;
    }
}
