package dev.tidemark.engine.postgres;

import org.postgresql.plugin.AuthenticationPlugin;
import org.postgresql.plugin.AuthenticationRequestType;
import org.postgresql.util.PSQLException;
import org.postgresql.util.PSQLState;

import java.util.Properties;

/**
 * The password of a protected server, handed to pgjdbc only for SCRAM (which proves knowledge of the password without
 * revealing it, so a server that only pretends to be the configured one learns nothing). A request for the password in
 * clear text or as MD5 (which a false server can replay or crack) is refused: the engine does not verify the server's
 * identity with TLS, so it cannot know who asks.
 */
public final class ScramOnlyPassword implements AuthenticationPlugin {
    /** The connection property that carries the password to this plugin; pgjdbc's own "password" is never set. */
    static final String PROPERTY = "tidemark.scramPassword";
    private final String password;
    private final String server;

    /** Called by pgjdbc (authenticationPluginClassName) with the connection's properties. */
    public ScramOnlyPassword(Properties info) {
        this.password = info.getProperty(PROPERTY);
        this.server = info.getProperty("PGHOST", "the server") + ":" + info.getProperty("PGPORT", "");
    }

    @Override
    public char[] getPassword(AuthenticationRequestType type) throws PSQLException {
        if (type == AuthenticationRequestType.SASL) {
            return password == null ? null : password.toCharArray();
        }
        throw new PSQLException("the server at " + server + " asked for the password " + (type == AuthenticationRequestType.MD5_PASSWORD
                ? "as MD5" : type == AuthenticationRequestType.CLEARTEXT_PASSWORD ? "in clear text" : "by " + type)
                + ", which Tidemark refuses (a server that is not the one configured would learn it): store the role's password with"
                + " SCRAM (password_encryption = 'scram-sha-256', then set the password again) and use scram-sha-256 in pg_hba.conf",
                PSQLState.INVALID_AUTHORIZATION_SPECIFICATION);
    }
}
