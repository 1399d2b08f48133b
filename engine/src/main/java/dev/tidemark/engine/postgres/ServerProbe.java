package dev.tidemark.engine.postgres;

import dev.tidemark.engine.operations.ServerStats;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;

/** Asks a server what a platform dashboard shows: version, connections in use and allowed, logical size and size on disk. */
public final class ServerProbe {
    private ServerProbe() {
    }

    /**
     * What a database's detailed view shows of its primary, asked over one connection: its usage, where it keeps its
     * configuration (null when not asked: base backups read a standby, asked there), and whether it waits for the
     * synchronous stream at commit (null when the database is not in synchronous mode).
     */
    public record PrimaryState(ServerStats stats, String configuration, String synchronousState) {
    }

    /**
     * One connection to the primary for the whole view (a dashboard polling a hundred databases opens one each, not
     * three). Never throws: an unreachable server yields every part saying so.
     */
    public static PrimaryState primary(PgConnections primary, boolean withConfiguration, String synchronousName) {
        try (Connection c = primary.open()) {
            ServerStats stats = stats(c);
            String configuration = withConfiguration ? configuration(c) : null;
            String synchronous = null;
            if (synchronousName != null) {
                try {
                    synchronous = SynchronousState.of(c, synchronousName);
                } catch (SQLException e) {
                    synchronous = unknown(e);
                }
            }
            return new PrimaryState(stats, configuration, synchronous);
        } catch (SQLException e) {
            return new PrimaryState(unreachable(e), withConfiguration ? "not known: " + e.getMessage() : null,
                    synchronousName != null ? unknown(e) : null);
        }
    }

    /**
     * Never throws: an unreachable server yields a ServerStats with only the error set. The size on disk (databases and
     * pg_wal) needs pg_ls_waldir, which only pg_monitor (or a superuser) may call: without it the size on disk is
     * unknown (null).
     */
    public static ServerStats stats(PgConnections connections) {
        try (Connection c = connections.open()) {
            return stats(c);
        } catch (SQLException e) {
            return unreachable(e);
        }
    }

    private static ServerStats stats(Connection c) {
        try {
            ServerQueries.Usage u = new ServerQueries(c).usage(5);
            Long disk = u.walBytes() != null ? u.databaseBytes() + u.walBytes() : null;
            return new ServerStats(u.version(), u.connections(), u.maxConnections(), u.databaseBytes(), disk, null);
        } catch (SQLException e) {
            return unreachable(e);
        }
    }

    /**
     * Where the server keeps its configuration ({@link ServerLayout#describe()}), or why that is not known. Never throws;
     * a role without pg_read_all_settings is not let ask (nothing in the server's log).
     */
    public static String configuration(PgConnections connections) {
        try (Connection c = connections.open()) {
            return configuration(c);
        } catch (SQLException e) {
            return "not known: " + e.getMessage();
        }
    }

    private static String configuration(Connection c) {
        try {
            return ServerLayout.detect(c).describe();
        } catch (SQLException e) {
            return "not known: " + e.getMessage();
        } catch (IOException e) {
            return "not known: a configuration file cannot be read on the engine's host (" + e.getMessage() + ")";
        }
    }

    private static ServerStats unreachable(SQLException e) {
        return new ServerStats(null, null, null, null, null, "server unreachable: " + e.getMessage());
    }

    /** Why the primary's sync_state is not known: the first line of the server's answer. */
    private static String unknown(SQLException e) {
        String message = e.getMessage() == null ? "" : e.getMessage();
        return "unknown (" + message.lines().findFirst().orElse("the server did not answer") + ")";
    }
}
