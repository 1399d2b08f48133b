package dev.tidemark.engine.testing;

import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerLayout;
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
    /** A cluster of Debian's postgresql-common this test made: dropped by close(). */
    private final Optional<ServerLayout.DebianCluster> debian;

    private PostgresCluster(Path root, PgServer server, int port, boolean ownsRoot) {
        this(root, server, port, ownsRoot, Optional.empty());
    }

    private PostgresCluster(Path root, PgServer server, int port, boolean ownsRoot, Optional<ServerLayout.DebianCluster> debian) {
        this.root = root;
        this.server = server;
        this.port = port;
        this.ownsRoot = ownsRoot;
        this.debian = debian;
    }

    /**
     * A started cluster whose configuration lives outside its data directory, as on Debian and Ubuntu: postgresql.conf,
     * pg_hba.conf and pg_ident.conf in {@link #configDirectory()} (data_directory, hba_file, ident_file and
     * external_pid_file set there), with include_dir 'conf.d' and an include of 'tuning.conf' beside them holding extra
     * settings; started with -c config_file=.
     */
    public static PostgresCluster startWithExternalConfig(String... extraSettings) {
        PostgresCluster plain = start(false, extraSettings);
        try {
            plain.stopServer();
            Path data = plain.dataDirectory();
            Path etc = Files.createDirectories(plain.root().resolve("etc"));
            Path confd = Files.createDirectories(etc.resolve("conf.d"));
            Path run = Files.createDirectories(plain.root().resolve("run"));
            for (String name : List.of("postgresql.conf", "pg_hba.conf", "pg_ident.conf")) {
                Files.move(data.resolve(name), etc.resolve(name));
            }
            Files.write(etc.resolve("postgresql.conf"), List.of(
                    "data_directory = '" + data + "'",
                    "hba_file = '" + etc.resolve("pg_hba.conf") + "'",
                    "ident_file = '" + etc.resolve("pg_ident.conf") + "'",
                    "external_pid_file = '" + run.resolve("postgres.pid") + "'",
                    "include_dir 'conf.d'",
                    "include_if_exists 'tuning.conf'"), java.nio.file.StandardOpenOption.APPEND);
            Files.write(confd.resolve("10-memory.conf"), List.of("work_mem = '7MB'"));
            Files.write(etc.resolve("tuning.conf"), List.of("maintenance_work_mem = '77MB'"));
            ServerUser.detect().own(etc);
            ServerUser.detect().own(run);
            PgServer external = plain.server.launchedBy(new PgServer.Launch.ConfigFile(etc.resolve("postgresql.conf")));
            PostgresCluster cluster = new PostgresCluster(plain.root, external, plain.port, true);
            cluster.startServer();
            return cluster;
        } catch (IOException e) {
            plain.close();
            throw new UncheckedIOException("could not start a test cluster with its configuration outside: " + e.getMessage(), e);
        }
    }

    /** Where {@link #startWithExternalConfig} keeps the configuration. */
    public Path configDirectory() {
        return root.resolve("etc");
    }

    /** Whether Debian's postgresql-common is installed here (pg_createcluster, pg_ctlcluster). */
    public static boolean debianToolsInstalled() {
        return Files.isExecutable(Path.of("/usr/bin/pg_createcluster")) && Files.isExecutable(ServerLayout.PG_CTLCLUSTER);
    }

    /**
     * A new Debian cluster (pg_createcluster VERSION NAME, trust authentication, configuration under
     * /etc/postgresql/VERSION/NAME, test settings in its conf.d), started with pg_ctlcluster; close() drops it.
     */
    public static PostgresCluster startDebian(String name) {
        String version = Integer.toString(PgBinaries.locate(Optional.empty()).majorVersion());
        ServerLayout.DebianCluster cluster = new ServerLayout.DebianCluster(version, name);
        int port = freePort();
        ServerUser user = ServerUser.detect();
        PgServer creator = new PgServer(PgBinaries.locate(Optional.empty()), user, Path.of("/var/lib/postgresql", version, name));
        try {
            creator.run(List.of("pg_createcluster", version, name, "-p", Integer.toString(port), "--", "--auth=trust", "--data-checksums"),
                    Duration.ofMinutes(2), "pg_createcluster");
            Path confd = Path.of("/etc/postgresql", version, name, "conf.d");
            Files.write(confd.resolve("tidemark-test.conf"), List.of("listen_addresses = '127.0.0.1'", "wal_level = replica",
                    "max_wal_senders = 10", "max_replication_slots = 10", "fsync = off", "shared_buffers = 32MB",
                    "max_connections = 40", "work_mem = '7MB'"));
            user.ownOne(confd.resolve("tidemark-test.conf"));
            PgServer server = creator.launchedBy(new PgServer.Launch.DebianCluster(cluster));
            PostgresCluster pg = new PostgresCluster(server.dataDirectory().getParent(), server, port, false, Optional.of(cluster));
            pg.startServer();
            return pg;
        } catch (IOException e) {
            dropDebian(creator, cluster);
            throw new UncheckedIOException("could not make a Debian test cluster " + version + "/" + name + ": " + e.getMessage(), e);
        }
    }

    private static void dropDebian(PgServer server, ServerLayout.DebianCluster cluster) {
        try {
            server.run(List.of("pg_dropcluster", "--stop", cluster.version(), cluster.name()), Duration.ofMinutes(1), "pg_dropcluster");
        } catch (IOException ignored) {
            // not made, or gone already
        }
        // pg_dropcluster leaves the configuration directory when it holds a file of ours (conf.d/tidemark-test.conf)
        deleteTree(Path.of("/etc/postgresql", cluster.version(), cluster.name()));
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

    /** The server's current WAL insert position (pg_current_wal_lsn()). */
    public dev.tidemark.engine.postgres.Lsn currentLsn() throws SQLException {
        try (Connection c = connect(); Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("select pg_current_wal_lsn()::text")) {
            rs.next();
            return dev.tidemark.engine.postgres.Lsn.parse(rs.getString(1));
        }
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
        if (debian.isPresent()) {
            dropDebian(server, debian.get());
            return;
        }
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
