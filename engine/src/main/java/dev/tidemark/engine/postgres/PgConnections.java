package dev.tidemark.engine.postgres;

import java.net.URI;
import java.net.URISyntaxException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

/**
 * How to reach one PostgreSQL server: a postgresql:// URL without a password, plus an optional password
 * supplied from configuration (never stored in the catalog). Opens plain and physical-replication connections.
 */
public final class PgConnections {
    private final String host;
    private final int port;
    private final String database;
    private final String user;
    private final String password;

    private PgConnections(String host, int port, String database, String user, String password) {
        this.host = host;
        this.port = port;
        this.database = database;
        this.user = user;
        this.password = password;
    }

    /** Parses postgresql://USER@HOST:PORT/DB; a password inside the URL is refused (it would end up in the catalog). */
    public static PgConnections parse(String url, String password) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalArgumentException("invalid PostgreSQL URL '" + redact(url) + "': expected postgresql://USER@HOST:PORT/DB");
        }
        if (!"postgresql".equals(uri.getScheme()) && !"postgres".equals(uri.getScheme())) {
            throw new IllegalArgumentException("invalid PostgreSQL URL '" + redact(url) + "': it must start with postgresql://");
        }
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("invalid PostgreSQL URL '" + redact(url) + "': no host; expected postgresql://USER@HOST:PORT/DB");
        }
        String userInfo = uri.getUserInfo();
        if (userInfo != null && userInfo.contains(":")) {
            throw new IllegalArgumentException("the PostgreSQL URL must not contain a password: give it in the engine's configuration"
                    + " (tidemark.pg-passwords.<database id>) or its environment (TIDEMARK_PGPASSWORDS_<DATABASE ID>), see"
                    + " docs/configuration.md, so it never reaches the catalog");
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException("the PostgreSQL URL must not carry parameters ('?...'): give it as postgresql://USER@HOST:PORT/DB"
                    + " (a password goes in the engine's configuration, tidemark.pg-passwords.<database id>, or its environment, see"
                    + " docs/configuration.md, so it never reaches the catalog)");
        }
        String db = uri.getPath() == null || uri.getPath().length() <= 1 ? "postgres" : uri.getPath().substring(1);
        if (!db.matches("[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}")) {
            throw new IllegalArgumentException("invalid database name '" + db + "' in PostgreSQL URL");
        }
        return new PgConnections(uri.getHost(), uri.getPort() < 0 ? 5432 : uri.getPort(), db,
                userInfo == null ? "postgres" : userInfo, password);
    }

    /**
     * Whether a name can be a PostgreSQL database's: 1 to 63 bytes in UTF-8 and no control character (PostgreSQL allows
     * any other character, spaces and quotes included; the dump tools get it quoted).
     */
    public static boolean isDatabaseName(String name) {
        return name != null && !name.isEmpty() && name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length <= 63
                && name.codePoints().noneMatch(Character::isISOControl);
    }

    /** The URL with anything that may be a password (user info after a colon, parameters) replaced by "***". */
    public static String redact(String url) {
        if (url == null) {
            return null;
        }
        return url.replaceAll("(?i)password\\s*=\\s*('(?:[^'\\\\]|\\\\.)*'|\\S+)", "password=***") // libpq key=value
                .replaceAll("(?<=://)[^@/]*:[^@/]*@", "***@").replaceAll("[?#].*$", "?***");
    }

    public String host() {
        return host;
    }

    public int port() {
        return port;
    }

    public String database() {
        return database;
    }

    public String user() {
        return user;
    }

    /** The same server with another database name (dumps, stats). */
    public PgConnections withDatabase(String otherDatabase) {
        return new PgConnections(host, port, otherDatabase, user, password);
    }

    /** The URL without secrets, as stored and shown. */
    public String url() {
        return "postgresql://" + user + "@" + host + ":" + port + "/" + database;
    }

    public String jdbcUrl() {
        // the driver decodes the path: a database name with '%', '+', '?' or '/' in it must be encoded
        return "jdbc:postgresql://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port + "/"
                + java.net.URLEncoder.encode(database, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** An optional password, for child processes (PGPASSWORD); never logged. */
    public String password() {
        return password;
    }

    public Connection open() throws SQLException {
        Properties p = base();
        p.setProperty("ApplicationName", "tidemark");
        return DriverManager.getConnection(jdbcUrl(), p);
    }

    public Connection openReplication() throws SQLException {
        return openReplication("tidemark-wal");
    }

    /**
     * A replication connection that names itself applicationName: the name a server's synchronous_standby_names lists
     * for a stream it should wait for.
     */
    public Connection openReplication(String applicationName) throws SQLException {
        Properties p = base();
        p.setProperty("replication", "true");
        p.setProperty("assumeMinServerVersion", "9.4");
        p.setProperty("preferQueryMode", "simple");
        p.setProperty("ApplicationName", applicationName);
        return DriverManager.getConnection(jdbcUrl(), p);
    }

    private Properties base() {
        Properties p = new Properties();
        p.setProperty("user", user);
        if (password != null) {
            // only ever by SCRAM: never in clear text or as MD5 to whoever answers at this address
            p.setProperty("authenticationPluginClassName", ScramOnlyPassword.class.getName());
            p.setProperty(ScramOnlyPassword.PROPERTY, password);
        }
        p.setProperty("connectTimeout", "10");
        // a server that takes the connection but never answers the login does not hold the caller for ever
        p.setProperty("loginTimeout", "30");
        p.setProperty("tcpKeepAlive", "true");
        return p;
    }

    @Override
    public String toString() {
        return url();
    }
}
