package dev.tidemark.engine.postgres;

import dev.tidemark.engine.operations.ServerStats;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** Asks a server what a platform dashboard shows: version, connections in use and allowed, logical size and size on disk. */
public final class ServerProbe {
    private ServerProbe() {
    }

    /** Never throws: an unreachable server yields a ServerStats with only the error set. */
    public static ServerStats stats(PgConnections connections) {
        try (Connection c = connections.open(); Statement s = c.createStatement()) {
            s.setQueryTimeout(5);
            try (ResultSet r = s.executeQuery("""
                    select current_setting('server_version'),
                           (select count(*) from pg_stat_activity where backend_type = 'client backend'),
                           current_setting('max_connections')::int,
                           (select sum(pg_database_size(oid)) from pg_database where datallowconn),
                           (select sum(size) from pg_ls_waldir()) as wal
                    """)) {
                r.next();
                long logical = r.getLong(4);
                long wal = r.getLong(5);
                return new ServerStats(r.getString(1), r.getInt(2), r.getInt(3), logical, logical + wal, null);
            }
        } catch (SQLException e) {
            if (e.getMessage() != null && e.getMessage().contains("pg_ls_waldir")) {
                return withoutWal(connections);
            }
            return new ServerStats(null, null, null, null, null, "server unreachable: " + e.getMessage());
        }
    }

    /** pg_ls_waldir needs pg_monitor; without it the size on disk is the databases' size. */
    private static ServerStats withoutWal(PgConnections connections) {
        try (Connection c = connections.open(); Statement s = c.createStatement(); ResultSet r = s.executeQuery("""
                select current_setting('server_version'),
                       (select count(*) from pg_stat_activity where backend_type = 'client backend'),
                       current_setting('max_connections')::int,
                       (select sum(pg_database_size(oid)) from pg_database where datallowconn)
                """)) {
            r.next();
            return new ServerStats(r.getString(1), r.getInt(2), r.getInt(3), r.getLong(4), r.getLong(4), null);
        } catch (SQLException e) {
            return new ServerStats(null, null, null, null, null, "server unreachable: " + e.getMessage());
        }
    }
}
