package dev.tidemark.engine.testing;

import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A real PostgreSQL cluster for tests, made with the installed server binaries in a temp directory, on a free
 * loopback port, ready for replication. Runs as the postgres user when the tests run as root; close() stops it
 * and removes its files.
 */
public final class PostgresCluster implements AutoCloseable {
    private final Path root;
    private final PgServer server;
    private final int port;
    private final boolean ownsRoot;

    private PostgresCluster(Path root, PgServer server, int port, boolean ownsRoot) {
        this.root = root;
        this.server = server;
        this.port = port;
        this.ownsRoot = ownsRoot;
    }

    /** A new, started cluster; with archive, {@link #archiveDirectory()} receives a plain copy of every WAL segment (archive_command). */
    public static PostgresCluster start(boolean archive, String... extraSettings) {
        return start(false, archive, extraSettings);
    }

    /** As {@link #start(boolean, String...)}; with separateWal, pg_wal is a link to a directory beside the data directory (initdb --waldir). */
    public static PostgresCluster start(boolean separateWal, boolean archive, String... extraSettings) {
        return start(separateWal ? List.of("--waldir=" + WAL_DIR_MARK) : List.of(), archive, extraSettings);
    }

    private static final String WAL_DIR_MARK = "@ROOT@/wal";

    /** A new, started cluster initialised with extra initdb arguments ("@ROOT@" stands for the cluster's root). */
    public static PostgresCluster start(List<String> initdbArgs, boolean archive, String... extraSettings) {
        try {
            Path root = Files.createTempDirectory("tidemark-pg-");
            ServerUser user = ServerUser.detect();
            user.ownOne(root);
            PgServer server = new PgServer(PgBinaries.locate(Optional.empty()), user, root.resolve("data"));
            server.initdb("postgres", initdbArgs.stream().map(arg -> arg.replace("@ROOT@", root.toString())).toList());
            int port = freePort();
            List<String> settings = new ArrayList<>(List.of(
                    "listen_addresses = '127.0.0.1'",
                    "port = " + port,
                    "unix_socket_directories = '" + root + "'",
                    "wal_level = replica",
                    "max_wal_senders = 10",
                    "max_replication_slots = 10",
                    "fsync = off",
                    "shared_buffers = 32MB",
                    "max_connections = 40",
                    "log_line_prefix = '%m [%p] '",
                    "logging_collector = off"));
            if (archive) {
                // inside the cluster's root, which the server's user can reach (a JUnit temp dir is root-only)
                Path archiveDir = Files.createDirectories(root.resolve("archive"));
                user.own(archiveDir);
                settings.add("archive_mode = on");
                settings.add("archive_command = 'test ! -f " + archiveDir + "/%f && cp %p " + archiveDir + "/%f'");
            }
            settings.addAll(List.of(extraSettings));
            Files.write(server.dataDirectory().resolve("postgresql.conf"), settings, java.nio.file.StandardOpenOption.APPEND);
            PostgresCluster cluster = new PostgresCluster(root, server, port, true);
            cluster.startServer();
            return cluster;
        } catch (IOException e) {
            throw new UncheckedIOException("could not start a test PostgreSQL cluster: " + e.getMessage(), e);
        }
    }

    public static PostgresCluster start() {
        return start(false);
    }

    /** Wraps an existing data directory (for example one a restore produced) that listens on port. */
    public static PostgresCluster attach(PgServer server, int port) {
        return new PostgresCluster(server.dataDirectory().getParent(), server, port, false);
    }

    public static int freePort() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public void startServer() throws IOException {
        server.start(root.resolve("postgres.log"), Duration.ofSeconds(60));
    }

    public void stopServer() throws IOException {
        server.stop();
    }

    /** Replaces the cluster with a freshly initialised one on the same port and settings: a new system identifier. */
    public void reinitialize() throws IOException {
        stopServer();
        String settings = Files.readString(server.dataDirectory().resolve("postgresql.conf"));
        deleteTree(server.dataDirectory());
        server.initdb("postgres", java.util.List.of());
        Files.writeString(server.dataDirectory().resolve("postgresql.conf"), settings);
        startServer();
    }

    public void kill() throws IOException {
        server.kill();
    }

    public Path root() {
        return root;
    }

    public Path archiveDirectory() {
        return root.resolve("archive");
    }

    public Path dataDirectory() {
        return server.dataDirectory();
    }

    public PgServer server() {
        return server;
    }

    public int port() {
        return port;
    }

    /** JDBC URL for database db as the superuser postgres (trust authentication on loopback). */
    public String jdbcUrl(String db) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + db + "?user=postgres";
    }

    public String jdbcUrl() {
        return jdbcUrl("postgres");
    }

    /** The operator-facing URL form, postgresql://postgres@127.0.0.1:PORT/postgres. */
    public String url() {
        return "postgresql://postgres@127.0.0.1:" + port + "/postgres";
    }

    public Connection connect(String db) throws SQLException {
        return DriverManager.getConnection(jdbcUrl(db));
    }

    public Connection connect() throws SQLException {
        return connect("postgres");
    }

    /** The server's clock now (clock_timestamp()), the time restore targets are given in. */
    public java.time.Instant serverNow() throws SQLException {
        try (Connection c = connect(); Statement st = c.createStatement(); java.sql.ResultSet rs = st.executeQuery("select clock_timestamp()")) {
            rs.next();
            return rs.getTimestamp(1).toInstant();
        }
    }

    public void executeIn(String db, String... statements) {
        try (Connection c = connect(db); Statement s = c.createStatement()) {
            for (String sql : statements) {
                s.execute(sql);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("SQL failed on test cluster: " + e.getMessage(), e);
        }
    }

    public void execute(String... statements) {
        executeIn("postgres", statements);
    }

    /** Runs pgbench against db with the given arguments (as the server's user), returning its output. */
    public String pgbench(String db, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(pgTool("pgbench"), "-h", "127.0.0.1", "-p", Integer.toString(port), "-U", "postgres"));
        cmd.addAll(List.of(args));
        cmd.add(db);
        return server.run(cmd, Duration.ofMinutes(10), "pgbench");
    }

    private String pgTool(String name) {
        Path inBin = server.binaries().directory().resolve(name);
        return Files.isExecutable(inBin) ? inBin.toString() : name;
    }

    public String log() {
        try {
            return Files.readString(root.resolve("postgres.log"));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (IOException e) {
            try {
                server.kill();
            } catch (IOException ignored) {
                // Best effort: the directory is removed below either way.
            }
        }
        if (ownsRoot) {
            deleteTree(root);
        }
    }

    public static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // A file that cannot be removed in a temp dir must not fail the test.
                }
            });
        } catch (IOException ignored) {
            // Same as above.
        }
    }
}
