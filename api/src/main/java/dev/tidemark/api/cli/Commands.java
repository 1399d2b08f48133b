package dev.tidemark.api.cli;

import dev.tidemark.api.server.DatabasesController;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tidemark.api.server.Tokens;
import dev.tidemark.storage.codec.MasterKey;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** The CLI's client commands: each is one or a few API calls, printed as tables (or JSON with --json). */
public final class Commands {
    private Commands() {
    }

    /** "7d", "36h", "90m" or an ISO-8601 duration ("P7D"), as the API takes it. */
    /** A path as the server needs it: absolute and normalised (it does not know the CLI's working directory); null stays null. */
    static String absolute(String path) {
        return path == null ? null : Path.of(path).toAbsolutePath().normalize().toString();
    }

    static String duration(CommandSpec spec, String text) {
        if (text == null) {
            return null;
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)([dhm])").matcher(text.trim().toLowerCase());
        if (m.matches()) {
            return switch (m.group(2)) {
                case "d" -> "P" + m.group(1) + "D";
                case "h" -> "PT" + m.group(1) + "H";
                default -> "PT" + m.group(1) + "M";
            };
        }
        try {
            return java.time.Duration.parse(text.trim()).toString();
        } catch (DateTimeParseException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "'" + text + "' is not a duration: use e.g. 7d, 36h or P7D");
        }
    }


    /**
     * A downloaded backup is the database's data in plain (decrypted on the way): a file made for it is readable by its
     * owner alone, whatever the umask; so is an existing regular file a download completes (a resumed partial copy made
     * some other way). Anything else (a device, a pipe) keeps its mode.
     */
    static void createPrivately(Path file) throws IOException {
        var ownerOnly = java.nio.file.attribute.PosixFilePermissions.fromString("rw-------");
        if (!Files.exists(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.createFile(file, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(ownerOnly));
        } else if (Files.isRegularFile(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.setPosixFilePermissions(file, ownerOnly);
        }
    }
    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** Base of client commands: output streams and the API client. */
    abstract static class Client implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        /** The connection options, given before or after the subcommand (they live on the root command). */
        ClientOptions options() {
            return ((dev.tidemark.api.Tidemark) spec.root().userObject()).options();
        }

        PrintStream out() {
            return System.out;
        }

        /** Progress goes to stderr: stdout carries the result only (the one JSON document with --json), for scripts. */
        PrintStream progressOut() {
            return System.err;
        }

        ApiClient api() {
            return options().client();
        }
    }

    static final String[] BACKUP_HEADERS = {"ID", "STATUS", "TRIGGER", "REQUESTED", "CONSISTENT AT", "BYTES", "STORED", "FAILURE"};
    static final String[] BACKUP_FIELDS = {"/id", "/status", "/trigger", "/requestedAt", "/consistencyTime", "/bytes", "/storedBytes", "/failure"};
    static final String[] DUMP_HEADERS = {"ID", "STATUS", "TRIGGER", "REQUESTED", "DATABASES", "BYTES", "FAILURE"};
    static final String[] DUMP_FIELDS = {"/id", "/status", "/trigger", "/requestedAt", "/databases", "/bytes", "/failure"};
    /**
     * For the tables: a dump of all databases lists them once it completed, and says "all" before (its list is empty
     * until then). The JSON output keeps the API's document as it is.
     */
    static JsonNode allDatabasesNamed(JsonNode dump) {
        if (dump.path("databases").isArray() && dump.path("databases").isEmpty()
                && dump instanceof com.fasterxml.jackson.databind.node.ObjectNode o) {
            com.fasterxml.jackson.databind.node.ObjectNode copy = o.deepCopy();
            copy.put("databases", "all");
            return copy;
        }
        return dump;
    }

    static final String[] RESTORE_HEADERS = {"ID", "STATUS", "TARGET", "DIRECTORY", "PORT", "REACHED", "FAILURE"};
    static final String[] RESTORE_FIELDS = {"/id", "/status", "/target", "/targetDir", "/port", "/reachedTime", "/failure"};

    @Command(name = "db", description = "Protected databases: add, list, status, policy, remove.",
            subcommands = {Db.Register.class, Db.ListDbs.class, Db.Show.class, Db.Policy.class, Db.Connection.class,
                    Db.Deregister.class})
    public static final class Db {
        @Command(name = "add", aliases = "register", description = "Protect a PostgreSQL cluster: WAL streaming starts, the first base backup follows.")
        static final class Register extends Client {
            @Parameters(index = "0", description = "database id: lower-case letters, digits, '-'")
            String id;
            @Option(names = "--pg-url", required = true, description = "postgresql://USER@HOST:PORT/DB of the primary (no password)")
            String pgUrl;
            @Option(names = "--pgdata", required = true, description = "data directory base backups read (absolute)")
            String pgdata;
            @Option(names = "--standby-url", description = "standby to take base backups and dumps from")
            String standbyUrl;
            @Option(names = "--window", description = "recovery window: 7d, 36h or ISO-8601 (P7D); default 7d")
            String window;

            @Override
            public Integer call() {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("id", id);
                body.put("pgUrl", pgUrl);
                body.put("pgdata", absolute(pgdata));
                body.put("standbyUrl", standbyUrl);
                body.put("window", duration(spec, window));
                JsonNode view = api().post("/v1/databases", body);
                options().print(out(), view, () -> out().println("registered " + view.path("id").asText()
                        + ": WAL streaming started; the window opens with its first base backup (taken within a minute where the"
                        + " scheduler runs, or now: tidemark backup base " + view.path("id").asText() + " --wait)"));
                return 0;
            }
        }

        @Command(name = "list", description = "List protected databases with their recovery windows.")
        static final class ListDbs extends Client {
            @Override
            public Integer call() {
                JsonNode list = api().get("/v1/databases");
                options().print(out(), list, () -> Table.print(out(), list,
                        new String[]{"ID", "STATUS", "WINDOW START", "WINDOW END", "STREAM", "LAST BASE BACKUP"},
                        new String[]{"/id", "/status", "/window/start", "/window/end", "/streaming/state", "/lastBaseBackup/completedAt"}));
                return 0;
            }
        }

        @Command(name = "status", aliases = "show", description = "Show a database: status, window, streaming, last backups, server stats.")
        static final class Show extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String id;

            @Override
            public Integer call() {
                JsonNode d = api().get("/v1/databases/" + enc(id));
                options().print(out(), d, () -> Table.details(out(), d,
                        new String[]{"id", "status", "primary", "pgdata", "standby", "window", "window start", "window end", "window note",
                                "streaming", "durable LSN", "durable time", "lag bytes", "lag seconds", "WAL kept by slot", "last base backup",
                                "last dump", "server version", "connections", "max connections", "logical size", "size on disk",
                                "base backup schedule", "dump schedule"},
                        new String[]{"/id", "/status", "/pgUrl", "/pgdata", "/standbyUrl", "/policy/window", "/window/start", "/window/end",
                                "/window/note", "/streaming/state", "/streaming/durableLsn", "/streaming/durableTime", "/streaming/lagBytes",
                                "/streaming/lagSeconds", "/streaming/retainedBytes", "/lastBaseBackup/completedAt", "/lastDump/completedAt",
                                "/stats/serverVersion", "/stats/openConnections", "/stats/maxConnections", "/stats/logicalBytes",
                                "/stats/diskBytes", "/policy/baseBackupSchedule", "/policy/dumpSchedule"}));
                return 0;
            }
        }

        @Command(name = "policy", description = "Change a database's policy (window, schedules in UTC, dump retention).")
        static final class Policy extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String id;
            @Option(names = "--window", description = "e.g. 14d or P14D")
            String window;
            @Option(names = "--base-backup-schedule", description = "one weekly slot in UTC, e.g. 'SUN 03:00' (a base backup asked for"
                    + " after the slot, by anyone, counts for it unless it failed)")
            String baseBackupSchedule;
            @Option(names = "--dump-schedule", description = "one daily slot in UTC, e.g. '01:00'")
            String dumpSchedule;
            @Option(names = "--daily-dumps", description = "scheduled dumps kept, one a day, for this many days (1-1000)")
            Integer daily;
            @Option(names = "--weekly-dumps", description = "Sunday dumps kept for this many weeks (1-1000)")
            Integer weekly;
            @Option(names = "--monthly-dumps", description = "first-Sunday-of-the-month dumps kept for this many months (1-1000)")
            Integer monthly;
            @Option(names = "--manual-dumps", description = "the newest dumps asked for by hand kept (1-1000)")
            Integer manual;

            @Override
            public Integer call() {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("window", duration(spec, window));
                body.put("baseBackupSchedule", baseBackupSchedule);
                body.put("dumpSchedule", dumpSchedule);
                body.put("dailyDumps", daily);
                body.put("weeklyDumps", weekly);
                body.put("monthlyDumps", monthly);
                body.put("manualDumps", manual);
                JsonNode d = api().patch("/v1/databases/" + enc(id) + "/policy", body);
                options().print(out(), d, () -> Table.details(out(), d.path("policy"),
                        new String[]{"window", "base backup schedule", "dump schedule", "daily dumps", "weekly dumps", "monthly dumps",
                                "manual dumps"},
                        new String[]{"/window", "/baseBackupSchedule", "/dumpSchedule", "/dailyDumps", "/weeklyDumps", "/monthlyDumps",
                                "/manualDumps"}));
                return 0;
            }
        }

        @Command(name = "connection", description = "Change where a database is reached: after a failover (the promoted standby is the"
                + " primary now), a move, or a standby added or removed. The WAL stream restarts on the new primary.")
        static final class Connection extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String id;
            @Option(names = "--pg-url", description = "postgresql://USER@HOST:PORT/DB of the primary (no password)")
            String pgUrl;
            @Option(names = "--pgdata", description = "data directory base backups read (absolute; the standby's when there is one)")
            String pgdata;
            @Option(names = "--standby-url", description = "standby to take base backups and dumps from")
            String standbyUrl;
            @Option(names = "--no-standby", description = "take base backups and dumps from the primary from now on")
            boolean noStandby;

            @Override
            public Integer call() {
                if (noStandby && standbyUrl != null) {
                    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "give --standby-url or --no-standby, not both");
                }
                if (pgUrl == null && pgdata == null && standbyUrl == null && !noStandby) {
                    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "nothing to change: give --pg-url, --pgdata, --standby-url or --no-standby");
                }
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("pgUrl", pgUrl);
                body.put("pgdata", absolute(pgdata));
                body.put("standbyUrl", noStandby ? "" : standbyUrl);
                JsonNode d = api().patch("/v1/databases/" + enc(id), body);
                options().print(out(), d, () -> Table.details(out(), d, new String[]{"id", "primary", "pgdata", "standby", "streaming"},
                        new String[]{"/id", "/pgUrl", "/pgdata", "/standbyUrl", "/streaming/state"}));
                return 0;
            }
        }

        @Command(name = "remove", aliases = "deregister", description = "Stop protecting a database; backups stay until retention removes them unless --purge.")
        static final class Deregister extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String id;
            @Option(names = "--purge", description = "also delete every backup, dump and WAL object of it")
            boolean purge;

            @Override
            public Integer call() {
                api().delete("/v1/databases/" + enc(id) + (purge ? "?purge=true" : ""));
                out().println("deregistered " + id + (purge ? "; its objects are being deleted" : "; its backups are kept"));
                return 0;
            }
        }
    }

    @Command(name = "backup", description = "Backups: base (physical), dump (logical), list, show, download, restore-dump.",
            subcommands = {Backup.Create.class, Dump.Create.class, Backup.ListAll.class, Backup.ShowAny.class, Dump.Download.class,
                    Dump.Restore.class})
    public static final class Backup {
        @Command(name = "list", description = "List a database's base backups and dumps.")
        static final class ListAll extends Client {
            @Parameters(index = "0", description = "database id")
            String db;

            @Override
            public Integer call() {
                JsonNode bases = api().get("/v1/databases/" + enc(db) + "/base-backups");
                JsonNode dumps = api().get("/v1/databases/" + enc(db) + "/dumps");
                com.fasterxml.jackson.databind.node.ObjectNode both = ApiClient.JSON.createObjectNode();
                both.set("baseBackups", bases);
                both.set("dumps", dumps);
                options().print(out(), both, () -> {
                    out().println("Base backups");
                    Table.print(out(), bases, BACKUP_HEADERS, BACKUP_FIELDS);
                    out().println();
                    out().println("Dumps");
                    com.fasterxml.jackson.databind.node.ArrayNode shown = ApiClient.JSON.createArrayNode();
                    dumps.forEach(d -> shown.add(allDatabasesNamed(d)));
                    Table.print(out(), shown, DUMP_HEADERS, DUMP_FIELDS);
                });
                return 0;
            }
        }

        @Command(name = "show", description = "Show one base backup (base-...) or dump (dump-...), with progress while it runs.")
        static final class ShowAny extends Client {
            @Parameters(index = "0", description = "database id")
            String db;
            @Parameters(index = "1", description = "backup or dump id")
            String id;

            @Override
            public Integer call() {
                if (id.startsWith("dump-")) {
                    JsonNode d = api().get("/v1/databases/" + enc(db) + "/dumps/" + enc(id));
                    options().print(out(), d, () -> Table.details(out(), allDatabasesNamed(d), new String[]{"id", "status", "trigger", "requested", "ended",
                            "databases", "bytes", "stored", "failure"}, new String[]{"/id", "/status", "/trigger", "/requestedAt", "/completedAt",
                            "/databases", "/bytes", "/storedBytes", "/failure"}));
                    return 0;
                }
                return new Show().show(this, db, id);
            }
        }

        @Command(name = "base", description = "Take a base backup now.")
        static final class Create extends Client {
            @Parameters(index = "0", description = "database id")
            String db;
            @Option(names = "--wait", description = "wait for it, with progress")
            boolean wait;

            @Override
            public Integer call() throws InterruptedException {
                JsonNode b = api().post("/v1/databases/" + enc(db) + "/base-backups", null);
                String id = b.path("id").asText();
                if (!wait) {
                    options().print(out(), b, () -> out().println("base backup " + id + " requested; follow it with: tidemark backup show "
                            + db + " " + id));
                    return 0;
                }
                JsonNode done = Progress.await(() -> api().get("/v1/databases/" + enc(db) + "/base-backups/" + enc(id)), "base backup",
                        progressOut());
                options().print(out(), done, () -> Table.details(out(), done, new String[]{"id", "status", "consistent at", "bytes", "stored",
                        "bad pages", "failure"}, new String[]{"/id", "/status", "/consistencyTime", "/bytes", "/storedBytes", "/badPages",
                        "/failure"}));
                return "completed".equals(done.path("status").asText()) ? 0 : 1;
            }
        }

        @Command(name = "show", description = "Show one base backup, with progress while it runs.")
        static final class Show extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String db;
            @Parameters(index = "1", description = "base backup id (base-...)")
            String id;

            @Override
            public Integer call() {
                return show(this, db, id);
            }

            Integer show(Client c, String db, String id) {
                JsonNode b = c.api().get("/v1/databases/" + enc(db) + "/base-backups/" + enc(id));
                c.options().print(c.out(), b, () -> Table.details(c.out(), b, new String[]{"id", "status", "trigger", "requested", "started",
                        "ended", "consistent at", "start LSN", "stop LSN", "timeline", "bytes", "stored", "bad pages", "phase",
                        "percent", "failure"}, new String[]{"/id", "/status", "/trigger", "/requestedAt", "/startedAt", "/completedAt",
                        "/consistencyTime", "/startLsn", "/stopLsn", "/timeline", "/bytes", "/storedBytes", "/badPages", "/progress/phase",
                        "/progress/percent", "/failure"}));
                return 0;
            }
        }
    }

    /** The logical dump commands (used under 'backup'). */
    public static final class Dump {
        @Command(name = "dump", description = "Take a logical dump (pg_dump -Fc) now.")
        static final class Create extends Client {
            @Parameters(index = "0", description = "database id")
            String db;
            @Option(names = "--database", description = "database of the cluster to dump (repeatable; default: all)")
            List<String> databases;
            @Option(names = "--wait")
            boolean wait;

            @Override
            public Integer call() throws InterruptedException {
                JsonNode d = api().post("/v1/databases/" + enc(db) + "/dumps", Map.of("databases", databases == null ? List.of() : databases));
                String id = d.path("id").asText();
                if (!wait) {
                    options().print(out(), d, () -> out().println("dump " + id + " requested; follow it with: tidemark backup show " + db + " " + id));
                    return 0;
                }
                JsonNode done = Progress.await(() -> api().get("/v1/databases/" + enc(db) + "/dumps/" + enc(id)), "dump", progressOut());
                options().print(out(), done, () -> Table.details(out(), done, new String[]{"id", "status", "databases", "bytes", "failure"},
                        new String[]{"/id", "/status", "/databases", "/bytes", "/failure"}));
                return "completed".equals(done.path("status").asText()) ? 0 : 1;
            }
        }

        @Command(name = "download", description = "Download a dump's pg_dump -Fc archive (an interrupted download resumes), or a"
                + " base backup as a tar archive that starts as a data directory of its own.")
        static final class Download extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String db;
            @Parameters(index = "1", description = "dump id (dump-...) or base backup id (base-...)")
            String id;
            @Option(names = "--database", description = "which database of the dump (required when it holds several: one archive each)")
            String database;
            @Option(names = {"-o", "--output"}, description = "file to write (default: the server's file name)")
            Path output;

            @Override
            public Integer call() throws IOException {
                if (id.startsWith("base-")) {
                    return baseBackup();
                }
                String path = "/v1/databases/" + enc(db) + "/dumps/" + enc(id) + "/download" + (database == null ? "" : "?database=" + enc(database));
                if (output != null && output.toString().equals("-")) {
                    return toStandardOutput(path);
                }
                Path file = output;
                HttpResponse<InputStream> response = null;
                String[] expected = new String[1]; // the archive's SHA-256, as the server sends it
                if (file == null) {
                    response = api().stream(path, null); // the server names the file
                    String disposition = response.headers().firstValue("Content-Disposition").orElse("filename=\"" + id + ".dump\"");
                    // the name only: never a directory the server's answer names
                    file = Path.of(disposition.replaceAll(".*filename=\"([^\"]+)\".*", "$1")).getFileName();
                }
                Path parent = file.toAbsolutePath().getParent();
                if (parent != null && !Files.isDirectory(parent)) {
                    close(response);
                    throw new CommandLine.ParameterException(spec.commandLine(), "directory " + parent + " does not exist: create it or "
                            + "choose another --output");
                }
                long have = Files.isRegularFile(file) ? Files.size(file) : 0;
                if (Files.exists(file) && !Files.isRegularFile(file)) {
                    close(response);
                    throw new CommandLine.ParameterException(spec.commandLine(), file + " is not a regular file: choose another --output");
                }
                if (have > 0) {
                    close(response);
                    response = null;
                    long[] size = new long[1];
                    if (!samePrefix(path, file, have, size, expected) || have > size[0]) {
                        throw new CommandLine.ParameterException(spec.commandLine(), file + " exists and is not a partial copy of dump " + id
                                + " (" + (have > size[0] ? "it is larger" : "its bytes differ") + "): nothing was written; remove it or "
                                + "choose another --output");
                    }
                    if (have == size[0]) {
                        verify(file, expected[0]);
                        out().println(file + " holds the whole dump already (" + Table.bytes(size[0]) + ", SHA-256 checked); nothing"
                                + " to download");
                        return 0;
                    }
                    response = api().stream(path, "bytes=" + have + "-");
                } else if (response == null) {
                    response = api().stream(path, null);
                }
                boolean resume = have > 0 && response.statusCode() == 206;
                response.headers().firstValue(DatabasesController.SHA256_HEADER).ifPresent(h -> expected[0] = h);
                long total;
                createPrivately(file);
                try (InputStream in = response.body(); OutputStream fileOut = Files.newOutputStream(file, StandardOpenOption.CREATE,
                        resume ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                    total = in.transferTo(fileOut);
                }
                verify(file, expected[0]);
                out().println((resume ? "resumed at byte " + have + ", " : "") + "wrote " + Table.bytes(total) + " to " + file
                        + (database == null ? "" : " (database " + database + ")")
                        + "; restore it with: pg_restore --clean --if-exists --no-owner --no-privileges -d DBNAME " + file);
                return 0;
            }

            /**
             * A base backup as a tar archive, built by the server as it sends it: written to FILE.part and renamed when
             * whole, so a transfer cut short (the server stops on a damaged object) never leaves a file that looks whole.
             * Not resumable: the archive has no fixed bytes to resume into.
             */
            private int baseBackup() throws IOException {
                if (database != null) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "--database is for dumps: a base backup holds the"
                            + " whole cluster");
                }
                String path = "/v1/databases/" + enc(db) + "/base-backups/" + enc(id) + "/download";
                boolean toStdout = output != null && output.toString().equals("-");
                Path file = output;
                if (file != null && !toStdout) {
                    refuseExisting(file);
                }
                HttpResponse<InputStream> response = api().stream(path, null);
                if (file == null) {
                    String disposition = response.headers().firstValue("Content-Disposition").orElse("filename=\"" + db + "-" + id + ".tar\"");
                    // the server's name, without any directory part: written where the CLI runs
                    file = Path.of(disposition.replaceAll(".*filename=\"([^\"]+)\".*", "$1")).getFileName();
                    try {
                        refuseExisting(file);
                    } catch (CommandLine.ParameterException e) {
                        close(response);
                        throw e;
                    }
                }
                long expected = response.headers().firstValueAsLong(DatabasesController.EXPECTED_BYTES_HEADER).orElse(0);
                if (toStdout) {
                    long total;
                    try (InputStream in = response.body()) {
                        total = Progress.copy(in, out(), expected, "download", System.err);
                    } catch (IOException e) {
                        throw cutShort(e);
                    }
                    out().flush();
                    System.err.println("wrote " + Table.bytes(total) + " of base backup " + id + " to standard output");
                    return 0;
                }
                Path part = file.resolveSibling(file.getFileName() + ".part");
                long total;
                Files.deleteIfExists(part);
                createPrivately(part);
                try (InputStream in = response.body(); OutputStream fileOut = Files.newOutputStream(part)) {
                    total = Progress.copy(in, fileOut, expected, "download", progressOut());
                } catch (IOException e) {
                    Files.deleteIfExists(part);
                    throw cutShort(e);
                }
                Files.move(part, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                out().println("wrote " + Table.bytes(total) + " to " + file + " (base backup " + id + ", its WAL to consistency included;"
                        + " archiving is off in it); start it as a copy, as the server's OS user: mkdir -m 700 DIR && tar -xf " + file
                        + " -C DIR && pg_ctl -D DIR -o '-p PORT' start");
                return 0;
            }

            private void refuseExisting(Path file) {
                Path parent = file.toAbsolutePath().getParent();
                if (parent != null && !Files.isDirectory(parent)) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "directory " + parent + " does not exist: create it or "
                            + "choose another --output");
                }
                if (Files.exists(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    throw new CommandLine.ParameterException(spec.commandLine(), file + " exists: a base backup archive is never written"
                            + " over or resumed; remove it or choose another --output");
                }
            }

            private IOException cutShort(IOException e) {
                return new IOException("the download of base backup " + id + " was cut short (" + e.getMessage() + "); nothing was kept."
                        + " The server stops an archive when a stored object fails its check (its log says which): download again, and if it"
                        + " fails again, use another base backup", e);
            }

            private static java.security.MessageDigest sha256() {
                try {
                    return java.security.MessageDigest.getInstance("SHA-256");
                } catch (java.security.NoSuchAlgorithmException e) {
                    throw new IllegalStateException(e);
                }
            }

            /** "-o -": the archive on standard output (for a pipe), checked against its SHA-256 as it passes; messages on stderr. */
            private int toStandardOutput(String path) throws IOException {
                HttpResponse<InputStream> response = api().stream(path, null);
                String sha256 = response.headers().firstValue(DatabasesController.SHA256_HEADER).orElse(null);
                java.security.MessageDigest digest = sha256();
                long total = 0;
                try (InputStream in = response.body()) {
                    byte[] buffer = new byte[1 << 16];
                    for (int n; (n = in.read(buffer)) > 0; ) {
                        out().write(buffer, 0, n);
                        digest.update(buffer, 0, n);
                        total += n;
                    }
                }
                out().flush();
                String actual = java.util.HexFormat.of().formatHex(digest.digest());
                if (sha256 != null && !actual.equalsIgnoreCase(sha256)) {
                    throw new IOException("the archive written to standard output differs from dump " + id + " (SHA-256 "
                            + actual.substring(0, 16) + "...): download it again");
                }
                System.err.println("wrote " + Table.bytes(total) + " to standard output" + (sha256 == null ? "" : " (SHA-256 checked)"));
                return 0;
            }

            /**
             * Checks the whole file against the archive's SHA-256: the prefix test before a resume looks at the ends only,
             * and bytes can be damaged anywhere. A file that differs is said so (exit 1) and left for the operator.
             */
            private void verify(Path file, String sha256) throws IOException {
                if (sha256 == null) {
                    return; // a server that does not send it
                }
                java.security.MessageDigest digest = sha256();
                try (InputStream in = Files.newInputStream(file)) {
                    byte[] buffer = new byte[1 << 16];
                    for (int n; (n = in.read(buffer)) > 0; ) {
                        digest.update(buffer, 0, n);
                    }
                }
                String actual = java.util.HexFormat.of().formatHex(digest.digest());
                if (!actual.equalsIgnoreCase(sha256)) {
                    throw new IOException(file + " differs from dump " + id + " (SHA-256 " + actual.substring(0, 16) + "..., the dump's is "
                            + sha256.substring(0, Math.min(16, sha256.length())) + "...): the file was damaged; remove it and download again");
                }
            }

            /**
             * Whether the file's first and last (up to) 64 KiB equal the dump's bytes at the same places; the dump's size,
             * from the first answer's Content-Range, goes into size[0] (a file larger than the dump differs at its end).
             */
            private boolean samePrefix(String path, Path file, long have, long[] size, String[] expected) throws IOException {
                int n = (int) Math.min(have, 65536);
                for (long from : new long[]{0, have - n}) {
                    byte[] remote;
                    HttpResponse<InputStream> r = api().stream(path, "bytes=" + from + "-" + (from + n - 1));
                    r.headers().firstValue(DatabasesController.SHA256_HEADER).ifPresent(h -> expected[0] = h);
                    if (from == 0) {
                        String range = r.headers().firstValue("Content-Range").orElse("");
                        if (!range.matches("bytes \\d+-\\d+/\\d+")) {
                            close(r);
                            throw new IOException("the server did not give the dump's size (Content-Range '" + range + "'); cannot resume safely");
                        }
                        size[0] = Long.parseLong(range.substring(range.indexOf('/') + 1));
                        if (have > size[0]) {
                            close(r);
                            return false;
                        }
                    }
                    try (InputStream in = r.body()) {
                        remote = in.readNBytes(n);
                    }
                    byte[] local = new byte[n];
                    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
                        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(local);
                        while (buffer.hasRemaining() && ch.read(buffer, from + buffer.position()) >= 0) {
                            // read on until the slice is full
                        }
                    }
                    if (!java.util.Arrays.equals(remote, local)) {
                        return false;
                    }
                }
                return true;
            }

            private static void close(HttpResponse<InputStream> response) {
                if (response != null) {
                    try {
                        response.body().close();
                    } catch (IOException ignored) {
                        // an abandoned body
                    }
                }
            }
        }

        @Command(name = "restore-dump", description = "Restore one database of a dump into an existing database with pg_restore --clean.")
        static final class Restore extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String db;
            @Parameters(index = "1", description = "dump id (dump-...)")
            String id;
            @Option(names = "--database", required = true, description = "the database of the dump to restore")
            String database;
            @Option(names = "--into", required = true, description = "the existing database to restore into (empty, unless --replace)")
            String target;
            @Option(names = "--replace", description = "restore into a database that holds tables: the dump's objects and their data "
                    + "replace the ones of the same names")
            boolean replace;
            @Option(names = "--wait")
            boolean wait;

            @Override
            public Integer call() throws InterruptedException {
                JsonNode r = api().post("/v1/databases/" + enc(db) + "/dumps/" + enc(id) + "/restore",
                        Map.of("database", database, "targetDatabase", target, "replace", replace));
                return RestoreCmd.follow(this, db, r, wait);
            }
        }
    }

    @Command(name = "restore", description = "Restore a database to a time (or the latest moment), beside it or in place; "
            + "'restore status' and 'restore list' follow restores.",
            subcommands = {RestoreCmd.Status.class, RestoreCmd.ListRestores.class, RestoreCmd.Cancel.class})
    public static final class RestoreCmd extends Client {
        @Parameters(index = "0", arity = "0..1", description = "database id")
        String db;
        @Option(names = "--time", description = "ISO-8601 time with an offset, e.g. 2026-11-24T10:41:07+01:00")
        String time;
        @Option(names = "--latest", description = "the newest moment whose WAL is in the repository")
        boolean latest;
        @Option(names = "--target-dir", description = "new, empty data directory")
        String targetDir;
        @Option(names = "--port", description = "port of the restored server")
        Integer port;
        @Option(names = "--in-place", description = "into the database's own (stopped) directory; the old one is moved aside")
        boolean inPlace;
        @Option(names = "--wait", description = "wait for it, with progress")
        boolean waitFor;

        @Override
        public Integer call() throws InterruptedException {
            picocli.CommandLine cl = spec.commandLine();
            if (db == null) {
                throw new picocli.CommandLine.ParameterException(cl, "give the database id: tidemark restore ID (--time ISO-8601 | --latest) "
                        + "(--target-dir DIR --port N | --in-place) [--wait]");
            }
            if ((time == null) == !latest) {
                throw new picocli.CommandLine.ParameterException(cl, "give exactly one of --time ISO-8601 and --latest");
            }
            if (inPlace == (targetDir != null || port != null) || (!inPlace && (targetDir == null || port == null))) {
                throw new picocli.CommandLine.ParameterException(cl, "give either --target-dir DIR and --port N, or --in-place");
            }
            Map<String, Object> body = new LinkedHashMap<>();
            if (time != null) {
                try {
                    body.put("time", OffsetDateTime.parse(time).toString());
                } catch (DateTimeParseException e) {
                    throw new picocli.CommandLine.ParameterException(cl, "--time '" + time
                            + "' is not an ISO-8601 time with an offset, e.g. 2026-11-24T10:41:07+01:00 or 2026-11-24T09:41:07Z");
                }
            }
            body.put("latest", latest);
            body.put("inPlace", inPlace);
            if (!inPlace) {
                body.put("targetDir", absolute(targetDir));
                body.put("port", port);
            }
            JsonNode r = api().post("/v1/databases/" + enc(db) + "/restores", body);
            return follow(this, db, r, waitFor);
        }

        static Integer follow(Client c, String db, JsonNode r, boolean wait) throws InterruptedException {
            String id = r.path("id").asText();
            if (!wait) {
                c.options().print(c.out(), r, () -> c.out().println("restore " + id + " requested; follow it with: tidemark restore status "
                        + db + " " + id));
                return 0;
            }
            JsonNode done = Progress.await(() -> c.api().get("/v1/databases/" + enc(db) + "/restores/" + enc(id)), "restore", c.progressOut());
            c.options().print(c.out(), done, () -> Table.details(c.out(), done, new String[]{"id", "status", "target", "directory", "port",
                    "reached", "result", "failure"}, new String[]{"/id", "/status", "/target", "/targetDir", "/port", "/reachedTime",
                    "/message", "/failure"}));
            return "completed".equals(done.path("status").asText()) ? 0 : 1;
        }

        @Command(name = "list", description = "List a database's restores.")
        static final class ListRestores extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String db;

            @Override
            public Integer call() {
                JsonNode list = api().get("/v1/databases/" + enc(db) + "/restores");
                options().print(out(), list, () -> Table.print(out(), list, RESTORE_HEADERS, RESTORE_FIELDS));
                return 0;
            }
        }

        @Command(name = "cancel", description = "Cancel a restore that is requested or running: it stops at its next step and "
                + "undoes what it did (the copy removed; in place, the old data directory put back).")
        static final class Cancel extends Client {
            @Parameters(index = "0", description = "database id")
            String db;
            @Parameters(index = "1", description = "restore id")
            String id;

            @Override
            public Integer call() {
                JsonNode r = api().post("/v1/databases/" + enc(db) + "/restores/" + enc(id) + "/cancel", Map.of());
                options().print(out(), r, () -> out().println("cancelling restore " + r.path("id").asText() + " of " + db
                        + ": it stops at its next step; follow it with: tidemark restore status " + db + " " + r.path("id").asText()));
                return 0;
            }
        }

        @Command(name = "status", aliases = "show", description = "Show one restore, with progress while it runs.")
        static final class Status extends Client {
            @Parameters(index = "0", description = "database id (tidemark db list)")
            String db;
            @Parameters(index = "1", description = "restore id")
            String id;

            @Override
            public Integer call() {
                JsonNode r = api().get("/v1/databases/" + enc(db) + "/restores/" + enc(id));
                options().print(out(), r, () -> Table.details(out(), r, new String[]{"id", "status", "target", "backup", "directory", "port",
                        "in place", "requested", "ended", "reached", "result", "phase", "percent", "failure"}, new String[]{"/id",
                        "/status", "/target", "/backupId", "/targetDir", "/port", "/inPlace", "/requestedAt", "/completedAt", "/reachedTime",
                        "/message", "/progress/phase", "/progress/percent", "/failure"}));
                return 0;
            }
        }
    }

    @Command(name = "window", description = "Show a database's recovery window: every second in it can be restored.")
    public static final class Window extends Client {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String db;

        @Override
        public Integer call() {
            JsonNode w = api().get("/v1/databases/" + enc(db) + "/window");
            options().print(out(), w, () -> {
                out().println(w.path("start").isMissingNode() || w.path("start").isNull()
                        ? "empty: " + w.path("note").asText() : "[" + w.path("start").asText() + ", " + w.path("end").asText() + "]");
                for (JsonNode g : w.path("excluded")) {
                    out().println("  except (" + g.path("after").asText() + ", " + g.path("before").asText()
                            + "): rolled back by in-place restore " + g.path("restoreId").asText());
                }
            });
            return 0;
        }
    }

    @Command(name = "events", description = "A database's event history (the audit log).")
    public static final class Events extends Client {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String db;
        @Option(names = "--from", defaultValue = "0")
        long from;
        @Option(names = "--limit", defaultValue = "100")
        int limit;
        @Option(names = "--follow", description = "keep printing new events as they happen (Ctrl-C to stop)")
        boolean follow;

        @Override
        public Integer call() throws InterruptedException {
            JsonNode first = api().get("/v1/databases/" + enc(db) + "/events?from=" + from + "&limit=" + limit);
            if (!follow) {
                options().print(out(), first, () -> {
                    Table.print(out(), first.path("events"), new String[]{"SEQ", "TIME", "TYPE", "ACTOR"},
                            new String[]{"/sequence", "/time", "/type", "/actor"});
                    if (first.path("next").asLong() >= 0) {
                        out().println("more: tidemark events " + db + " --from " + first.path("next").asLong());
                    }
                });
                return 0;
            }
            JsonNode page = first;
            long next = from;
            while (true) {
                for (JsonNode e : page.path("events")) {
                    out().println(options().json ? e.toString() : String.format("%6d  %s  %-22s %s", e.path("sequence").asLong(),
                            e.path("time").asText(), e.path("type").asText(), e.path("actor").asText()));
                    next = e.path("sequence").asLong() + 1;
                }
                if (page.path("next").asLong() < 0) {
                    Thread.sleep(2000);
                }
                page = api().get("/v1/databases/" + enc(db) + "/events?from=" + next + "&limit=" + limit);
            }
        }
    }

    @Command(name = "read-model", description = "The read model (the rows the API lists).", subcommands = ReadModel.Rebuild.class)
    public static final class ReadModel {
        @Command(name = "rebuild", description = "Rebuild the read model from the events (admin token); safe at any time.")
        static final class Rebuild extends Client {
            @Override
            public Integer call() {
                JsonNode r = api().post("/v1/read-model/rebuild", null);
                options().print(out(), r, () -> out().println(r.path("current").asBoolean()
                        ? "read model rebuilt: " + r.path("databases").asInt() + " databases in " + r.path("millis").asLong() + " ms"
                        : "read model still catching up after " + r.path("millis").asLong() + " ms; lists answer from memory meanwhile"));
                return 0;
            }
        }
    }

    @Command(name = "key", description = "Master encryption keys.", subcommands = Key.Generate.class)
    public static final class Key {
        @Command(name = "generate", description = "Write a new AES-256 master key to FILE (mode 0600); refuses to overwrite.")
        static final class Generate implements Callable<Integer> {
            @Parameters(index = "0", description = "the file to write")
            Path file;

            @Override
            public Integer call() throws IOException {
                if (Files.exists(file)) { // bad input, like any other: exit 2, nothing written
                    System.err.println("error: " + file + " exists: a master key is never overwritten; give a new file name");
                    return 2;
                }
                MasterKey key = MasterKey.generate();
                key.writeTo(file);
                System.out.println("wrote master key " + key.fingerprint() + " to " + file
                        + ": keep a copy apart from the repository; without it no backup can be read");
                return 0;
            }
        }
    }

    @Command(name = "token", description = "API tokens.", subcommands = Token.Create.class)
    public static final class Token {
        @Command(name = "create", description = "Make a new token: prints the secret once and the configuration entry holding its hash.")
        static final class Create implements Callable<Integer> {
            @Parameters(index = "0", description = "token name, recorded as the actor of its requests")
            String name;
            @Option(names = "--scope", required = true, description = "admin, operator or read")
            String scope;
            @Option(names = "--database", description = "for operator tokens: a database it may act on (repeatable)")
            List<String> databases;

            @Override
            public Integer call() {
                String problem = Tokens.scopeProblem(scope, databases);
                if (problem != null) {
                    System.err.println("error: " + problem + " (--scope, --database)");
                    return 2;
                }
                String secret = Tokens.generate();
                System.out.println("token (shown once): " + secret);
                System.out.println("add to the server configuration:");
                System.out.println("tidemark:");
                System.out.println("  tokens:");
                System.out.println("    - name: " + name);
                System.out.println("      scope: " + scope);
                System.out.println("      sha256: " + Tokens.sha256(secret));
                if (databases != null && !databases.isEmpty()) {
                    System.out.println("      databases: [" + String.join(", ", databases) + "]");
                }
                return 0;
            }
        }
    }
}
