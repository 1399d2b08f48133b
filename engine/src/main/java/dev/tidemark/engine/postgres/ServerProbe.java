package dev.tidemark.engine.postgres;

import dev.tidemark.engine.operations.ServerStats;

import java.sql.Connection;
import java.sql.SQLException;

/** Asks a server what a platform dashboard shows: version, connections in use and allowed, logical size and size on disk. */
public final class ServerProbe {
    private ServerProbe() {
    }

    /**
     * Never throws: an unreachable server yields a ServerStats with only the error set. The size on disk (databases and
     * pg_wal) needs pg_ls_waldir, which only pg_monitor (or a superuser) may call: without it the size on disk is
     * unknown (null).
     */
    public static ServerStats stats(PgConnections connections) {
        try (Connection c = connections.open()) {
            ServerQueries.Usage u = new ServerQueries(c).usage(5);
            Long disk = u.walBytes() != null ? u.databaseBytes() + u.walBytes() : null;
            return new ServerStats(u.version(), u.connections(), u.maxConnections(), u.databaseBytes(), disk, null);
        } catch (SQLException e) {
            return new ServerStats(null, null, null, null, null, "server unreachable: " + e.getMessage());
        }
    }
}
