package dev.tidemark.engine.postgres;

import java.util.Map;

/** The one lookup of a protected server's credentials: its URL with the password configured for its database. */
public final class Credentials {
    private final Map<String, String> passwords;

    /** passwords: per protected database id (configuration only, never stored elsewhere). */
    public Credentials(Map<String, String> passwords) {
        this.passwords = passwords;
    }

    /** How to reach the server at url (a primary or a standby) of the protected database databaseId. */
    public PgConnections server(String databaseId, String url) {
        return PgConnections.parse(url, passwords.get(databaseId));
    }
}
