package dev.tidemark.api;

import picocli.CommandLine.Command;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Hidden: runs a few client commands against a throw-away local HTTP server, so that the launcher can record
 * the classes (and, on JDK 25, the method profiles) a CLI call uses in an ahead-of-time cache; later calls start
 * from it in under half the time. Prints nothing, needs no running Tidemark server.
 */
@Command(name = "warm-up", hidden = true, description = "Exercise the CLI for the launcher's start-up cache.")
final class WarmUpCommand implements Callable<Integer> {
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
                    {"window", "warm-up"}, {"--json", "db", "list"}, {"backup", "base", "warm-up", "--wait"},
                    {"backup", "base", "warm-up", "--wait", "--json"}, {"restore", "warm-up", "--time", "2026-01-01T00:00:00+01:00",
                    "--target-dir", "/nonexistent/tidemark-warm-up", "--port", "5999", "--wait", "--json"},
                    {"restore", "warm-up", "--latest", "--in-place", "--wait"}}) {
                List<String> all = new ArrayList<>(List.of(args));
                all.addAll(List.of("--server", server, "--token", "warm-up"));
                try {
                    String[] argv = all.toArray(String[]::new);
                    Tidemark.commandLine(argv).execute(argv);
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
