package dev.tidemark.engine.postgres;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * Whether a server waits for a synchronous stream at commit: the sync_state of the walsender that serves the stream's
 * application name ("sync", "quorum", "potential", "async"), or "not connected" when none does.
 */
public final class SynchronousState {
    public static final String NOT_CONNECTED = "not connected";

    private SynchronousState() {
    }

    /** The server's sync_state for the walsender of applicationName; an unreachable server is an SQLException. */
    public static String of(PgConnections primary, String applicationName) throws SQLException {
        try (Connection c = primary.open();
             PreparedStatement ps = c.prepareStatement(
                     "select sync_state from pg_stat_replication where application_name = ? order by backend_start desc limit 1")) {
            ps.setString(1, applicationName);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getString(1) != null ? rs.getString(1) : NOT_CONNECTED;
            }
        }
    }
}
