package dev.tidemark.api;

import dev.tidemark.api.server.ServerApplication;
import dev.tidemark.api.server.Tokens;
import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.RepositoryFactory;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.recovery.WriterRecords;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A server whose repository the engines of another catalog take over while it runs: out of the load balancer (readiness
 * and health DOWN), the gauge at 1, and every request of the API answered 409 with why, nothing recorded.
 */
@AutoConfigureObservability
@SpringBootTest(classes = ServerApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class TakenOverTest {
    static final String ADMIN = "tdm_admin-secret-for-takeover";
    static final String QUIET = "tidemark.writer-quiet-seconds";
    static Path tmp;

    @LocalServerPort
    int port;
    @Autowired
    Engine engine;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) throws Exception {
        tmp = Files.createTempDirectory("tidemark-taken-over-");
        ServerUser.detect().ownOne(tmp);
        System.setProperty(QUIET, "3"); // heartbeats every half second: the takeover is seen at once
        registry.add("tidemark.data-directory", () -> tmp.resolve("data").toString());
        registry.add("tidemark.scheduler.enabled", () -> "false");
        registry.add("tidemark.tokens[0].name", () -> "ops-admin");
        registry.add("tidemark.tokens[0].scope", () -> "admin");
        registry.add("tidemark.tokens[0].sha256", () -> Tokens.sha256(ADMIN));
    }

    @AfterAll
    static void cleanUp() {
        System.clearProperty(QUIET);
        PostgresCluster.deleteTree(tmp);
    }

    private HttpResponse<String> call(String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).header("Authorization", "Bearer " + ADMIN)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        try (HttpClient client = HttpClient.newHttpClient()) {
            return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        }
    }

    @Test
    void aServerTakenOverServesNothingAndSaysWhy() throws Exception {
        assertThat(call("GET", "/actuator/health/readiness", null).statusCode()).isEqualTo(200);
        assertThat(call("GET", "/v1/databases", null).statusCode()).isEqualTo(200);

        try (Repository repository = RepositoryFactory.open(engine.config())) {
            WriterRecords.takeOver(repository, "the-new-catalog", "node-9");
        }
        await(() -> engine.takenOver(), t -> t.isPresent(), Duration.ofSeconds(20));

        assertThat(call("GET", "/actuator/health/readiness", null).statusCode()).as("out of the load balancer").isEqualTo(503);
        assertThat(call("GET", "/actuator/health", null).statusCode()).isEqualTo(503);
        assertThat(call("GET", "/actuator/prometheus", null).body()).contains("tidemark_repository_taken_over 1.0");
        for (String[] request : new String[][]{{"GET", "/v1/databases", null},
                {"POST", "/v1/databases", "{\"id\":\"shop\",\"pgUrl\":\"postgresql://127.0.0.1:5/postgres\",\"pgdata\":\"/srv/shop\"}"}}) {
            HttpResponse<String> answer = call(request[0], request[1], request[2]);
            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(409);
            assertThat(answer.body()).contains("was taken over by another catalog's engines (node node-9 of catalog the-new-catalog")
                    .contains("stop it");
        }
        assertThat(engine.databases()).isEmpty();
        assertThat(call("GET", "/v1/openapi", null).statusCode()).isEqualTo(200);
    }
}
