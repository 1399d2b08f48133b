package dev.tidemark.engine.postgres;

import java.util.Locale;
import java.util.Map;

/**
 * The one lookup of a protected server's credentials: its URL with the password configured for its database. An
 * environment variable cannot carry a '-': Spring binds TIDEMARK_PGPASSWORDS_SHOP_EU as "shop.eu" and
 * TIDEMARK_PGPASSWORDS_SHOPEU as "shopeu", so a database id is also found under those spellings, when exactly one
 * configured key reads as it once '-', '.' and '_' are set aside.
 */
public final class Credentials {
    private final Map<String, String> passwords;

    /** passwords: per protected database id (configuration only, never stored elsewhere). */
    public Credentials(Map<String, String> passwords) {
        this.passwords = passwords;
    }

    /** How to reach the server at url (a primary or a standby) of the protected database databaseId. */
    public PgConnections server(String databaseId, String url) {
        return PgConnections.parse(url, password(databaseId));
    }

    /** The password configured for a database id, under its own spelling or the one an environment variable gives it. */
    String password(String databaseId) {
        String exact = passwords.get(databaseId);
        if (exact != null) {
            return exact;
        }
        String wanted = plain(databaseId);
        String found = null;
        for (Map.Entry<String, String> e : passwords.entrySet()) {
            if (plain(e.getKey()).equals(wanted)) {
                if (found != null && !found.equals(e.getValue())) {
                    return null; // two keys read alike (shop-eu and shopeu): only the exact spelling counts
                }
                found = e.getValue();
            }
        }
        return found;
    }

    private static String plain(String key) {
        return key.replaceAll("[-._]", "").toLowerCase(Locale.ROOT);
    }
}
