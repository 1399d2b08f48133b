package dev.tidemark.api;

import dev.tidemark.api.cli.ApiClient;
import dev.tidemark.api.cli.ClientOptions;
import dev.tidemark.api.cli.Commands;
import dev.tidemark.api.quickstart.Quickstart;
import dev.tidemark.api.server.ServerApplication;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * The tidemark command: the server ({@code serve}), the quickstart, and a CLI client of the REST API.
 * Exit codes: 0 success, 1 the operation failed (or the server could not be reached), 2 the input was rejected.
 */
@Command(name = "tidemark", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT, version = "tidemark 0.1.0",
        description = "Backup and point-in-time recovery for PostgreSQL: WAL streaming, base backups, dumps, restores.",
        subcommands = {Tidemark.Serve.class, Quickstart.class, Commands.Db.class, Commands.Backup.class,
                Commands.RestoreCmd.class, Commands.Window.class, Commands.Events.class, Commands.ReadModel.class, Commands.Key.class, Commands.Token.class, Tidemark.WarmUp.class})
public final class Tidemark implements Runnable {
    private static volatile boolean serving;

    @picocli.CommandLine.Mixin
    private ClientOptions options = new ClientOptions();

    /** The client options (--server, --token, --data-dir, --json), accepted before or after any subcommand. */
    public ClientOptions options() {
        return options;
    }

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        if (!serving) {
            System.exit(code);
        }
    }

    /** The command line with its error handling: API and usage errors print one line and exit non-zero, no stack trace. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Tidemark());
        cl.setParameterExceptionHandler((e, args) -> {
            CommandLine failed = e.getCommandLine();
            failed.getErr().println("error: " + e.getMessage());
            failed.getErr().println("see: " + failed.getCommandSpec().qualifiedName() + " --help");
            return 2;
        });
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            int code;
            if (e instanceof ApiClient.ApiException api) {
                code = api.status() >= 400 && api.status() < 500 ? 2 : 1;
            } else if (e instanceof IllegalArgumentException || e instanceof java.io.IOException || e instanceof IllegalStateException) {
                code = 1;
            } else {
                throw e;
            }
            commandLine.getErr().println("error: " + e.getMessage());
            if (jsonAsked(parseResult)) {
                // with --json, stdout carries one JSON document whatever happens: here the error
                java.util.Map<String, Object> error = new java.util.LinkedHashMap<>();
                error.put("status", e instanceof ApiClient.ApiException api && api.status() > 0 ? api.status() : null);
                error.put("message", e.getMessage());
                error.put("exitCode", code);
                commandLine.getOut().println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(
                        java.util.Map.of("error", error)));
            }
            return code;
        });
        return cl;
    }

    private static boolean jsonAsked(CommandLine.ParseResult result) {
        for (CommandLine.ParseResult r = result; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--json")) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    @Command(name = "serve", description = "Run the engine: REST API, WAL streaming, workers, scheduler.")
    static final class Serve implements Callable<Integer> {
        @Option(names = "--config", description = "YAML configuration file (see docs/configuration.md)")
        Path config;

        @Override
        public Integer call() {
            List<String> args = new ArrayList<>();
            if (config != null) {
                if (!Files.isReadable(config)) {
                    System.err.println("error: configuration file " + config + " cannot be read");
                    return 2;
                }
                List<Object> documents = new ArrayList<>();
                try (var in = Files.newBufferedReader(config)) {
                    // read once here: a YAML error found by Spring would come with its stack trace, before logging is set up
                    new org.yaml.snakeyaml.Yaml().loadAll(in).forEach(documents::add);
                } catch (java.io.IOException | RuntimeException e) {
                    System.err.println("error: configuration file " + config + " is not valid YAML: " + e.getMessage());
                    return 2;
                }
                List<String> unknown = dev.tidemark.api.server.ConfigKeys.unknown(documents);
                if (!unknown.isEmpty()) {
                    unknown.forEach(problem -> System.err.println("error: configuration file " + config + ": " + problem));
                    System.err.println("nothing was started; see docs/configuration.md for the settings");
                    return 2;
                }
                args.add("--spring.config.additional-location=file:" + config.toAbsolutePath());
            }
            try {
                ServerApplication.run(args.toArray(String[]::new));
                serving = true;
                return 0;
            } catch (RuntimeException e) {
                // Spring wraps the reason in its own exceptions: the first other one in the chain says it best (ours
                // name the store, the bucket and what to check; a library's below it only its own words)
                Throwable told = e;
                while (told.getCause() != null && told.getCause() != told && told.getClass().getName().startsWith("org.springframework")) {
                    told = told.getCause();
                }
                boolean expected = false;
                String rootMessage = "";
                for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                    expected |= t instanceof IllegalArgumentException || t instanceof IllegalStateException || t instanceof java.io.IOException
                            || t.getClass().getName().startsWith("org.springframework.boot.context.properties")
                            || t.getClass().getName().startsWith("org.yaml");
                    rootMessage = t.getMessage() == null ? rootMessage : t.getMessage();
                }
                String message = told.getMessage() == null ? told.getClass().getSimpleName() : told.getMessage();
                if (rootMessage.contains("The file is locked") || rootMessage.contains("Database may be already in use")) {
                    message = "another tidemark server is using the same data directory (its catalog is locked): stop it, or give"
                            + " this one a data directory of its own (tidemark.data-directory)";
                } else if (!expected) {
                    e.printStackTrace(); // not a configuration problem: the trace is for whoever reports it
                }
                System.err.println("error: the server did not start: " + message);
                return 1;
            }
        }
    }

    /**
     * Hidden: runs a few client commands against a throw-away local HTTP server, so that the launcher can record
     * the classes (and, on JDK 25, the method profiles) a CLI call uses in an ahead-of-time cache; later calls start
     * from it in under half the time. Prints nothing, needs no running Tidemark server.
     */
    @Command(name = "warm-up", hidden = true, description = "Exercise the CLI for the launcher's start-up cache.")
    static final class WarmUp implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            byte[] list = """
                    [{"id":"warm-up","status":"protected","window":{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"},
                      "streaming":{"state":"streaming","durableLsn":"0/3000000"},"lastBaseBackup":{"completedAt":"2026-01-01T00:00:00Z"}}]
                    """.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            byte[] one = """
                    {"id":"warm-up","status":"completed","bytes":1,"startedAt":"2026-01-01T00:00:00Z","completedAt":"2026-01-01T00:00:01Z"}
                    """.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            com.sun.net.httpserver.HttpServer http = com.sun.net.httpserver.HttpServer.create(
                    new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
            http.createContext("/", exchange -> {
                byte[] body = exchange.getRequestURI().getPath().equals("/v1/databases") ? list : one;
                exchange.getResponseHeaders().set("Content-Type", "application/json");
                exchange.sendResponseHeaders(200, body.length);
                try (var out = exchange.getResponseBody()) {
                    out.write(body);
                }
            });
            http.start();
            java.io.PrintStream stdout = System.out;
            java.io.PrintStream stderr = System.err;
            try (java.io.PrintStream nowhere = new java.io.PrintStream(java.io.OutputStream.nullOutputStream())) {
                System.setOut(nowhere);
                System.setErr(nowhere);
                String server = "http://127.0.0.1:" + http.getAddress().getPort();
                for (String[] args : new String[][]{{"db", "list"}, {"db", "status", "warm-up"}, {"backup", "list", "warm-up"},
                        {"window", "warm-up"}, {"--json", "db", "list"}}) {
                    List<String> all = new ArrayList<>(List.of(args));
                    all.addAll(List.of("--server", server, "--token", "warm-up"));
                    try {
                        commandLine().execute(all.toArray(String[]::new));
                    } catch (RuntimeException ignored) {
                        // a canned answer a command does not expect: the classes it loaded are recorded all the same
                    }
                }
            } finally {
                System.setOut(stdout);
                System.setErr(stderr);
                http.stop(0);
            }
            return 0;
        }
    }
}
