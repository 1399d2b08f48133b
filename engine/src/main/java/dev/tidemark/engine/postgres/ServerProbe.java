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

    /**
     * Where the server keeps its configuration ({@link ServerLayout#describe()}), or why that is not known. Never throws;
     * a role without pg_read_all_settings is not let ask (nothing in the server's log).
     */
    public static String configuration(PgConnections connections) {
        try (Connection c = connections.open()) {
            return ServerLayout.detect(c).describe();
        } catch (SQLException e) {
            return "not known: " + e.getMessage();
        } catch (IOException e) {
            return "not known: a configuration file cannot be read on the engine's host (" + e.getMessage() + ")";
        }
    }
}
