package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** How the CLI reaches the server: --server, --token (or TIDEMARK_TOKEN, or the local admin token file), --json. */
public final class ClientOptions {
    @Option(names = "--server", scope = ScopeType.INHERIT, description = "API address (default: $TIDEMARK_SERVER or http://127.0.0.1:8432)")
    String server;

    @Option(names = "--token", scope = ScopeType.INHERIT, description = "API token (default: $TIDEMARK_TOKEN, else the admin token in the data directory)")
    String token;

    @Option(names = "--data-dir", scope = ScopeType.INHERIT, description = "the server's data directory, where the generated admin token is (default: "
            + "$TIDEMARK_DATA_DIR or ~/.tidemark)")
    Path dataDirectory;

    @Option(names = "--json", scope = ScopeType.INHERIT, description = "print the API's JSON instead of a table")
    boolean json;

    public ApiClient client() {
        String address = server != null ? server : env("TIDEMARK_SERVER", "http://127.0.0.1:8432");
        if (token != null) {
            return new ApiClient(address, token);
        }
        String fromEnv = System.getenv("TIDEMARK_TOKEN");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return new ApiClient(address, fromEnv);
        }
        String fromFile = fileToken(); // named in a refusal: a stale generated token is a common cause
        return new ApiClient(address, fromFile, fromFile != null ? adminTokenFile().toString() : noTokenBecause());
    }

    /** Why no token was found, for a refusal: TIDEMARK_TOKEN unset and the admin token file missing or unreadable. */
    private String noTokenBecause() {
        Path file = adminTokenFile();
        String why = !Files.exists(file) ? "does not exist" : !Files.isReadable(file) ? "cannot be read by this user" : "is empty";
        return "no --token, TIDEMARK_TOKEN is not set, and the admin token file " + file + " " + why
                + (dataDirectory == null ? " (--data-dir names the server's data directory)" : "");
    }

    private Path adminTokenFile() {
        Path dir = dataDirectory != null ? dataDirectory
                : Path.of(env("TIDEMARK_DATA_DIR", Path.of(System.getProperty("user.home"), ".tidemark").toString()));
        return dir.resolve("admin.token");
    }

    private String fileToken() {
        Path file = adminTokenFile();
        try {
            String text = Files.isReadable(file) ? Files.readString(file, StandardCharsets.US_ASCII).trim() : null;
            return text == null || text.isEmpty() ? null : text;
        } catch (IOException e) {
            return null;
        }
    }

    private static String env(String name, String otherwise) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? otherwise : v;
    }

    /** Prints a response: raw JSON with --json, else the table or lines the caller renders. */
    void print(PrintStream out, JsonNode node, Runnable human) {
        if (json) {
            try {
                out.println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        } else {
            human.run();
        }
    }
}
