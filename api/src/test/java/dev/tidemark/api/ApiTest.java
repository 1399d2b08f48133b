package dev.tidemark.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.api.server.ServerApplication;
import dev.tidemark.api.server.Tokens;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/** The REST API and the CLI against a running server with a real engine and a real PostgreSQL cluster. */
@AutoConfigureObservability
@SpringBootTest(classes = ServerApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ApiTest {
    static final String ADMIN = "tdm_admin-secret-for-tests";
    static final String READER = "tdm_reader-secret-for-tests";
    static final String OPERATOR = "tdm_operator-secret-for-tests";
    static Path tmp;
    static PostgresCluster cluster;
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) throws Exception {
        tmp = Files.createTempDirectory("tidemark-api-");
        ServerUser.detect().ownOne(tmp);
        cluster = PostgresCluster.start();
        registry.add("tidemark.data-directory", () -> tmp.resolve("data").toString());
        registry.add("tidemark.scheduler.enabled", () -> "false");
        registry.add("tidemark.wal-partial-interval", () -> "PT0.5S");
        registry.add("tidemark.tokens[0].name", () -> "ops-admin");
        registry.add("tidemark.tokens[0].scope", () -> "admin");
        registry.add("tidemark.tokens[0].sha256", () -> Tokens.sha256(ADMIN));
        registry.add("tidemark.tokens[1].name", () -> "dashboard");
        registry.add("tidemark.tokens[1].scope", () -> "read");
        registry.add("tidemark.tokens[1].sha256", () -> Tokens.sha256(READER));
        registry.add("tidemark.tokens[2].name", () -> "team-other");
        registry.add("tidemark.tokens[2].scope", () -> "operator");
        registry.add("tidemark.tokens[2].sha256", () -> Tokens.sha256(OPERATOR));
        registry.add("tidemark.tokens[2].databases[0]", () -> "other");
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
        PostgresCluster.deleteTree(tmp);
    }

    private HttpResponse<String> call(String method, String path, String token, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode json(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body());
    }

    private void assertProblem(HttpResponse<String> r, int status, String detailContains) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("application/problem+json");
        assertThat(json(r).path("detail").asText()).contains(detailContains);
    }

    @Test
    @Order(1)
    void tokensAndScopesGuardTheApi() throws Exception {
        assertProblem(call("GET", "/v1/databases", null, null), 401, "bearer token");
        assertProblem(call("GET", "/v1/databases", "tdm_wrong", null), 401, "not known");
        assertThat(call("GET", "/v1/databases", READER, null).statusCode()).isEqualTo(200);
        String register = "{\"id\":\"shop\",\"pgUrl\":\"" + cluster.url() + "\",\"pgdata\":\"" + cluster.dataDirectory() + "\"}";
        assertProblem(call("POST", "/v1/databases", READER, register), 403, "dashboard");
        assertProblem(call("POST", "/v1/databases", OPERATOR, register), 403, "team-other");
        assertThat(call("GET", "/actuator/health", null, null).statusCode()).isEqualTo(200);
        assertThat(call("GET", "/v1/openapi", null, null).body()).contains("/v1/databases/{id}/restores");
    }

    @Test
    @Order(2)
    void registerBackUpAndRefuseBadInput() throws Exception {
        String register = "{\"id\":\"shop\",\"pgUrl\":\"" + cluster.url() + "\",\"pgdata\":\"" + cluster.dataDirectory() + "\"}";
        HttpResponse<String> created = call("POST", "/v1/databases", ADMIN, register);
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        assertProblem(call("POST", "/v1/databases", ADMIN, register), 409, "registered already");
        assertProblem(call("POST", "/v1/databases", ADMIN, "{\"id\":\"Bad Id\",\"pgUrl\":\"x\",\"pgdata\":\"/x\"}"), 400, "database id");
        assertProblem(call("POST", "/v1/databases", ADMIN, "{not json"), 400, "JSON");
        assertProblem(call("GET", "/v1/databases/nope", ADMIN, null), 404, "not registered");

        HttpResponse<String> accepted = call("POST", "/v1/databases/shop/base-backups", ADMIN, null);
        assertThat(accepted.statusCode()).isEqualTo(202);
        String id = json(accepted).path("id").asText();
        assertThat(accepted.headers().firstValue("Location")).hasValue("/v1/databases/shop/base-backups/" + id);
        assertProblem(call("POST", "/v1/databases/shop/base-backups", ADMIN, null), 409, id);
        JsonNode backup = awaitDone("/v1/databases/shop/base-backups/" + id);
        assertThat(backup.path("status").asText()).as(backup.toString()).isEqualTo("completed");

        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN,
                "{\"time\":\"2020-01-01T00:00:00Z\",\"targetDir\":\"" + tmp.resolve("r") + "\",\"port\":5999}"), 400,
                "outside the recovery window [");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":true}"), 400, "targetDir");

        JsonNode events = json(call("GET", "/v1/databases/shop/events?from=0&limit=5", READER, null));
        assertThat(events.path("events").get(0).path("actor").asText()).isEqualTo("ops-admin");
    }

    @Test
    @Order(3)
    void dumpsDownloadWholeOrResumed() throws Exception {
        HttpResponse<String> accepted = call("POST", "/v1/databases/shop/dumps", ADMIN, "{\"databases\":[\"postgres\"]}");
        assertThat(accepted.statusCode()).as(accepted.body()).isEqualTo(202);
        String id = json(accepted).path("id").asText();
        assertThat(awaitDone("/v1/databases/shop/dumps/" + id).path("status").asText()).isEqualTo("completed");
        String path = "/v1/databases/shop/dumps/" + id + "/download";
        HttpResponse<byte[]> whole = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", "Bearer " + READER).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(new String(whole.body(), 0, 5, StandardCharsets.US_ASCII)).isEqualTo("PGDMP");
        HttpResponse<byte[]> rest = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", "Bearer " + READER).header("Range", "bytes=100-").build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(rest.statusCode()).isEqualTo(206);
        assertThat(rest.body()).isEqualTo(Arrays.copyOfRange(whole.body(), 100, whole.body().length));
    }

    @Test
    @Order(4)
    void metricsAndTheCli() throws Exception {
        HttpResponse<String> metrics = call("GET", "/actuator/prometheus", READER, null);
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (!metrics.body().contains("database=\"shop\"") && System.nanoTime() < deadline) {
            Thread.sleep(500);
            metrics = call("GET", "/actuator/prometheus", READER, null);
        }
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("tidemark_window_end_seconds{database=\"shop\"}", "tidemark_last_base_backup_age_seconds");

        String server = "http://127.0.0.1:" + port;
        assertThat(cli("db", "list", "--server", server, "--token", READER)).contains("shop", "active");
        assertThat(cli("window", "shop", "--server", server, "--token", READER)).startsWith("[");
        assertThat(cli("backup", "list", "shop", "--server", server, "--token", READER, "--json")).contains("\"status\" : \"completed\"");
        String denied = cli("backup", "create", "shop", "--server", server, "--token", READER);
        assertThat(denied).contains("error: Forbidden");
    }

    private String cli(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream capture = new PrintStream(captured, true, StandardCharsets.UTF_8);
        System.setOut(capture);
        System.setErr(capture);
        try {
            var cl = Tidemark.commandLine();
            cl.setOut(new java.io.PrintWriter(capture, true));
            cl.setErr(new java.io.PrintWriter(capture, true));
            cl.execute(args);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }

    private JsonNode awaitDone(String path) throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        JsonNode view = json(call("GET", path, READER, null));
        while (view.path("status").asText().matches("requested|running") && System.nanoTime() < deadline) {
            Thread.sleep(200);
            view = json(call("GET", path, READER, null));
        }
        return view;
    }
}
