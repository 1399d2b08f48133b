package dev.tidemark.engine.postgres;

import dev.tidemark.engine.operations.ServerStats;

import java.io.IOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** Asks a server what a platform dashboard shows: version, connections in use and allowed, logical size and size on disk. */
public final class ServerProbe {
    private ServerProbe() {
    }

    /**
     * Never throws: an unreachable server yields a ServerStats with only the error set. The size on disk (databases and
     * pg_wal) needs pg_ls_waldir, which only pg_monitor (or a superuser) may call: the privilege is checked first, so
     * a role without it never writes "permission denied" into the server's log; the size on disk is then unknown (null).
     */
    public static ServerStats stats(PgConnections connections) {
        try (Connection c = connections.open(); Statement s = c.createStatement()) {
            s.setQueryTimeout(5);
            boolean mayListWal;
            // a separate question: PostgreSQL checks a function's privilege when the query starts, whatever branch calls it
            try (ResultSet r = s.executeQuery("select has_function_privilege('pg_catalog.pg_ls_waldir()', 'execute')")) {
                mayListWal = r.next() && r.getBoolean(1);
            }
            try (ResultSet r = s.executeQuery("""
                    select current_setting('server_version'),
                           (select count(*) from pg_stat_activity where backend_type = 'client backend'),
                           current_setting('max_connections')::int,
                           (select sum(pg_database_size(oid)) from pg_database where datallowconn)
                    """ + (mayListWal ? ", (select coalesce(sum(size), 0) from pg_ls_waldir())" : ""))) {
                r.next();
                long logical = r.getLong(4);
                Long disk = mayListWal ? logical + r.getLong(5) : null;
                return new ServerStats(r.getString(1), r.getInt(2), r.getInt(3), logical, disk, null);
            }
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
