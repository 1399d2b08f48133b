package dev.tidemark.engine.postgres;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The session consuming a replication slot on a protected server. A node that takes a database over ends the previous
 * owner's session still holding the slot (a frozen node keeps its connection until it wakes or the server's
 * wal_sender_timeout ends it), so that its own stream can start (issue 20); the previous owner is fenced by then and
 * writes nothing.
 */
public final class SlotConsumer {
    private SlotConsumer() {
    }

    /** Ends the session holding slotName, if one does; true when one was ended. */
    public static boolean end(PgConnections server, String slotName) throws SQLException {
        try (Connection c = server.open(); PreparedStatement s = c.prepareStatement("select pg_terminate_backend(active_pid)"
                + " from pg_replication_slots where slot_name = ? and active and active_pid <> pg_backend_pid()")) {
            s.setString(1, slotName);
            try (ResultSet r = s.executeQuery()) {
                return r.next() && r.getBoolean(1);
            }
        }
    }
}
