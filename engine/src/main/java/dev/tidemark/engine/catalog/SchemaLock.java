package dev.tidemark.engine.catalog;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * Serializes the creation of tables in a PostgreSQL catalog among nodes starting at once on an empty one: there two
 * concurrent {@code CREATE TABLE IF NOT EXISTS} of one table make one of them fail on PostgreSQL's own catalog (a
 * duplicate key in pg_type). A session advisory lock, held on a connection of its own while the tables are created;
 * nothing on the embedded catalog (one node), nor when the catalog cannot be reached (the creation then says so).
 */
public final class SchemaLock implements AutoCloseable {
    private static final long KEY = 0x7469_6465_6d61_726bL; // "tidemark"

    private final Connection connection;

    private SchemaLock(Connection connection) {
        this.connection = connection;
    }

    public static SchemaLock acquire(DataSource dataSource) {
        Connection c = null;
        try {
            c = dataSource.getConnection();
            if (!c.getMetaData().getDatabaseProductName().toLowerCase().contains("postgres")) {
                c.close();
                return new SchemaLock(null);
            }
            try (Statement s = c.createStatement()) {
                s.execute("select pg_advisory_lock(" + KEY + ")");
            }
            return new SchemaLock(c);
        } catch (SQLException e) {
            if (c != null) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // the creation that follows reports the catalog's trouble
                }
            }
            return new SchemaLock(null);
        }
    }

    @Override
    public void close() {
        if (connection == null) {
            return;
        }
        try (connection; Statement s = connection.createStatement()) {
            s.execute("select pg_advisory_unlock(" + KEY + ")");
        } catch (SQLException ignored) {
            // a session that ended lost its lock with it
        }
    }
}
