package dev.tidemark.engine.postgres;

import java.sql.Connection;
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
        try (Connection c = primary.open()) {
            return of(c, applicationName);
        }
    }

    /** The same over a connection the caller holds. */
    public static String of(Connection primary, String applicationName) throws SQLException {
        return new ServerQueries(primary).syncState(applicationName).orElse(NOT_CONNECTED);
    }
}
