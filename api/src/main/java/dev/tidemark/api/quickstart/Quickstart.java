package dev.tidemark.api.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tidemark.api.cli.ApiClient;
import dev.tidemark.api.server.ServerApplication;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ChildEnvironment;
import dev.tidemark.engine.postgres.ServerUser;
import org.springframework.context.ConfigurableApplicationContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * The whole promise in one command: a scratch PostgreSQL cluster, the engine with a file repository, embedded catalog
 * and a fresh encryption key, WAL streaming, a base backup, writes at noted times, a restore to one of those times into
 * a new directory and port, and a check that the restored data is exactly what it was then.
 */
@Command(name = "quickstart", description = "Run a full backup, write, restore-to-a-time round trip on a scratch cluster, verified.")
public final class Quickstart implements Callable<Integer> {
    private static final String MARK = ".tidemark-quickstart";

    @Option(names = "--dir", description = "working directory (default: ./tidemark-quickstart); removed afterwards unless --keep")
    Path dir = Path.of("tidemark-quickstart");

    @Option(names = "--keep", description = "keep the server, the scratch cluster and the restored one running until Ctrl-C")
    boolean keep;

    @Option(names = "--port", description = "API port (default: 8432 when free, else a free one)")
    Integer apiPort;

    private final PrintStream out = System.out;
    private final List<AutoCloseable> started = new ArrayList<>();
    private Instant began;

    @Override
    public Integer call() throws Exception {
        began = Instant.now();
        if (apiPort != null && (apiPort < 1 || apiPort > 65535 || !portFree(apiPort))) {
            // checked before anything starts
            System.err.println("error: --port " + apiPort + (apiPort < 1 || apiPort > 65535 ? " is not a port (1-65535)"
                    : " is in use on 127.0.0.1") + ": choose another, or leave --port out to take a free one");
            return 2;
        }
        Path root = reachable(dir.toAbsolutePath().normalize());
        if (Files.exists(root) && !Files.exists(root.resolve(MARK))) {
            // bad input, like a busy port: exit 2, nothing touched
            System.err.println("error: " + root + " exists and was not made by the quickstart: choose another --dir");
            return 2;
        }
        try {
            prepare(root);
            return run(root);
        } catch (QuickstartFailure e) {
            out.println();
            out.println("QUICKSTART FAILED: " + e.getMessage());
            return 1;
        } finally {
            if (!keep) {
                cleanUp(root);
            }
        }
    }

    private int run(Path root) throws Exception {
        ServerUser user = ServerUser.detect();
        PgBinaries binaries = PgBinaries.locate(Optional.empty());
        step("scratch PostgreSQL " + binaries.majorVersion() + " cluster");
        int pgPort = freePort();
        PgServer source = new PgServer(binaries, user, root.resolve("source"));
        source.initdb("postgres", List.of());
        Files.write(source.dataDirectory().resolve("postgresql.conf"), List.of(
                "listen_addresses = '127.0.0.1'", "port = " + pgPort, "unix_socket_directories = '" + root + "'",
                "wal_level = replica", "max_wal_senders = 10", "max_replication_slots = 10", "shared_buffers = 32MB"),
                StandardOpenOption.APPEND);
        source.start(root.resolve("source.log"), Duration.ofSeconds(60));
        started.add(source::stop);
        done("running on 127.0.0.1:" + pgPort + ", data in " + source.dataDirectory());

        step("tidemark server (file repository, embedded catalog, AES-256-GCM key)");
        int port = apiPort != null ? apiPort : portFree(8432) ? 8432 : freePort();
        Path data = root.resolve("data");
        ConfigurableApplicationContext server = ServerApplication.run("--server.port=" + port, "--tidemark.data-directory=" + data,
                "--tidemark.scheduler.enabled=false", "--tidemark.wal-partial-interval=PT1S", "--logging.level.dev.tidemark=WARN",
                "--logging.level.org.springframework.boot.web.embedded.tomcat=WARN", "--logging.level.org.springdoc=ERROR",
                "--logging.level.org.springframework.boot.web.embedded.tomcat.GracefulShutdown=WARN");
        started.add(server::close);
        String token = Files.readString(data.resolve("admin.token"), StandardCharsets.US_ASCII).trim();
        ApiClient api = new ApiClient("http://127.0.0.1:" + port, token);
        done("API on http://127.0.0.1:" + port + ", repository " + data.resolve("repository") + ", key " + data.resolve("master.key"));

        step("register the cluster and stream its WAL");
        api.post("/v1/databases", Map.of("id", "quickstart", "pgUrl", "postgresql://postgres@127.0.0.1:" + pgPort + "/postgres",
                "pgdata", source.dataDirectory().toString()));
        done("database 'quickstart' registered, replication slot tidemark_quickstart streaming");

        step("base backup");
        JsonNode backup = api.post("/v1/databases/quickstart/base-backups", null);
        JsonNode backupDone = await(api, "/v1/databases/quickstart/base-backups/" + backup.path("id").asText(), "base backup");
        if (!"completed".equals(backupDone.path("status").asText())) {
            throw new QuickstartFailure("the base backup failed: " + backupDone.path("failure").asText());
        }
        done(backupDone.path("id").asText() + ": " + size(backupDone.path("bytes").asLong()) + " read, "
                + size(backupDone.path("storedBytes").asLong()) + " stored (compressed, encrypted)");

        step("write data, noting the time after each write");
        String url = "jdbc:postgresql://127.0.0.1:" + pgPort + "/postgres";
        List<Instant> times = new ArrayList<>();
        List<String> contents = new ArrayList<>();
        try (Connection c = DriverManager.getConnection(url, "postgres", "")) {
            execute(c, "create table orders(id serial primary key, item text not null, amount numeric not null)");
            String[][] rounds = {{"coffee", "3.20"}, {"croissant", "2.10"}, {"juice", "4.00"}};
            for (int i = 0; i < rounds.length; i++) {
                execute(c, "insert into orders(item, amount) select '" + rounds[i][0] + " ' || g, " + rounds[i][1]
                        + " from generate_series(1, 1000) g");
                if (i == 2) {
                    execute(c, "delete from orders where item like 'coffee%'");
                }
                times.add(serverTime(c));
                contents.add(fingerprint(c));
                out.printf("    %s  write %d: %s%n", times.get(i), i + 1, contents.get(i));
                Thread.sleep(1200);
            }
        }
        Instant target = times.get(1);
        done("3 writes; the restore goes back to " + target + ", after write 2 and before write 3");

        step("wait until the WAL of that moment is in the repository");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        JsonNode window = api.get("/v1/databases/quickstart/window");
        while (window.path("end").isMissingNode() || window.path("end").isNull() || Instant.parse(window.path("end").asText()).isBefore(target)) {
            if (System.nanoTime() > deadline) {
                throw new QuickstartFailure("the recovery window did not reach " + target + ": " + window);
            }
            Thread.sleep(300);
            window = api.get("/v1/databases/quickstart/window");
        }
        done("recovery window [" + window.path("start").asText() + ", " + window.path("end").asText() + "]");

        step("restore to " + target + " into a new directory and port");
        int restoredPort = freePort();
        Path restoredDir = root.resolve("restored");
        JsonNode restore = api.post("/v1/databases/quickstart/restores", Map.of("time", target.atOffset(ZoneOffset.UTC).toString(),
                "targetDir", restoredDir.toString(), "port", restoredPort));
        JsonNode restored = await(api, "/v1/databases/quickstart/restores/" + restore.path("id").asText(), "restore");
        if (!"completed".equals(restored.path("status").asText())) {
            throw new QuickstartFailure("the restore failed: " + restored.path("failure").asText());
        }
        PgServer restoredServer = PgServer.factory(binaries, user).at(restoredDir);
        started.add(restoredServer::stop);
        done(restored.path("message").asText());

        step("compare the restored data with the data at " + target);
        String restoredContent;
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + restoredPort + "/postgres", "postgres", "")) {
            restoredContent = fingerprint(c);
        }
        out.printf("    at the time:   %s%n    after restore: %s%n", contents.get(1), restoredContent);
        if (!restoredContent.equals(contents.get(1))) {
            throw new QuickstartFailure("the restored data differs from the data at " + target);
        }
        done("identical: the restore brought back exactly the moment asked for");

        out.println();
        out.printf("Quickstart passed in %d s.%n", Duration.between(began, Instant.now()).toSeconds());
        out.println();
        out.println(keep ? "Go on from here:" : "Go on from here (run 'tidemark quickstart --keep' to leave everything running for this):");
        out.println("  API:      http://127.0.0.1:" + port + "/v1/databases   (OpenAPI: /v1/openapi)");
        out.println("  console:  http://127.0.0.1:" + port + "/   (sign in with the token below)");
        out.println("  token:    " + data.resolve("admin.token") + "   (export TIDEMARK_TOKEN=$(cat " + data.resolve("admin.token") + "))");
        out.println("  try:      ./tidemark --help; ./tidemark db list --server http://127.0.0.1:" + port + " --data-dir " + data);
        out.println("            ./tidemark window quickstart --data-dir " + data + " --server http://127.0.0.1:" + port);
        out.println("            ./tidemark backup base quickstart --wait --data-dir " + data + " --server http://127.0.0.1:" + port);
        out.println("            ./tidemark events quickstart --data-dir " + data + " --server http://127.0.0.1:" + port);
        out.println("  serve your own: ./tidemark serve --config tidemark.yml   (docs/configuration.md, docs/operations.md)");
        if (keep) {
            out.println();
            out.println("Everything keeps running (--keep): source cluster on port " + pgPort + ", restored cluster on port " + restoredPort
                    + ". Press Ctrl-C to stop; the files stay in " + root + ".");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> stopAll()));
            Thread.currentThread().join();
        }
        return 0;
    }

    /**
     * The working directory, unless PostgreSQL's user (when the quickstart runs as root) cannot reach it, as under a
     * home directory of mode 0700: then a directory under the system's temp directory.
     */
    private Path reachable(Path wanted) throws IOException, InterruptedException {
        ServerUser user = ServerUser.detect();
        Path existing = wanted;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null || user.name().equals(System.getProperty("user.name"))) {
            return wanted;
        }
        Process check = ChildEnvironment.builder(user.command(List.of("test", "-x", existing.toString()))).redirectErrorStream(true).start();
        if (check.waitFor() == 0) {
            return wanted;
        }
        Path fallback = Path.of(System.getProperty("java.io.tmpdir"), "tidemark-quickstart");
        out.println("note: " + wanted + " is not reachable by the '" + user.name() + "' user PostgreSQL runs as; using " + fallback);
        return fallback;
    }

    private void prepare(Path root) throws IOException {
        if (Files.exists(root)) {
            if (!Files.exists(root.resolve(MARK))) {
                throw new QuickstartFailure(root + " exists and was not made by the quickstart: choose another --dir");
            }
            stopLeftovers(root);
            deleteTree(root);
        }
        Files.createDirectories(root);
        Files.writeString(root.resolve(MARK), "made by tidemark quickstart\n");
        ServerUser.detect().ownOne(root);
        out.println("Tidemark quickstart in " + root);
    }

    /** A previous run killed before its clean-up may have left its clusters running: stop them before deleting. */
    private static void stopLeftovers(Path root) {
        for (String name : List.of("source", "restored")) {
            PgServer leftover = new PgServer(PgBinaries.locate(Optional.empty()), ServerUser.detect(), root.resolve(name));
            try {
                if (leftover.isRunning()) {
                    leftover.stop();
                }
            } catch (IOException | RuntimeException ignored) {
                // nothing running there
            }
        }
    }

    private void stopAll() {
        for (int i = started.size() - 1; i >= 0; i--) {
            try {
                started.get(i).close();
            } catch (Exception e) {
                out.println("    (stopping failed: " + e.getMessage() + ")");
            }
        }
        started.clear();
    }

    private void cleanUp(Path root) {
        stopAll();
        if (Files.exists(root.resolve(MARK))) {
            deleteTree(root);
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + root + ": " + e.getMessage(), e);
        }
    }

    private JsonNode await(ApiClient api, String path, String what) throws InterruptedException {
        JsonNode view = api.get(path);
        String last = "";
        while (view.path("status").asText().matches("requested|running")) {
            JsonNode p = view.path("progress");
            String line = String.format("    %s: %-12s %3d%% %s of %s", what, p.path("phase").asText(view.path("status").asText()),
                    p.path("percent").asInt(), size(p.path("bytesDone").asLong()), size(p.path("bytesTotal").asLong()));
            if (!line.equals(last)) {
                out.println(line);
                last = line;
            }
            Thread.sleep(250);
            view = api.get(path);
        }
        return view;
    }

    private static void execute(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private static Instant serverTime(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select clock_timestamp()")) {
            r.next();
            return r.getTimestamp(1).toInstant();
        }
    }

    /** Row count, sum and a checksum over every row in order: equal fingerprints mean equal tables. */
    private static String fingerprint(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(
                "select count(*), coalesce(sum(amount), 0), md5(coalesce(string_agg(id || ':' || item || ':' || amount, ',' order by id), ''))"
                        + " from orders")) {
            r.next();
            return r.getLong(1) + " rows, total " + r.getBigDecimal(2) + ", md5 " + r.getString(3).substring(0, 12);
        }
    }

    private void step(String what) {
        out.printf("%n[%3ds] %s%n", Duration.between(began, Instant.now()).toSeconds(), what);
    }

    private void done(String what) {
        out.println("    ok: " + what);
    }

    private static String size(long bytes) {
        return bytes < 1024 * 1024 ? (bytes / 1024) + " KiB" : String.format("%.1f MiB", bytes / 1048576.0);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static boolean portFree(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** A step did not do what it should; the message says which and why. */
    static final class QuickstartFailure extends RuntimeException {
        QuickstartFailure(String message) {
            super(message);
        }
    }
}
