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
import java.util.List;

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
    @org.springframework.beans.factory.annotation.Autowired
    dev.tidemark.engine.Engine engine;

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
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":true,\"targetDir\":\"/tmp/x\",\"port\":\"abc\"}"),
                400, "field 'port' must be a whole number");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":true,\"targetDir\":\"/tmp/x\",\"port\":5999.9}"),
                400, "field 'port' must be a whole number");
        // each field its own JSON type: no text for a number or a flag, no number of seconds for a time
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":true,\"targetDir\":\"/tmp/x\",\"port\":\"40101\"}"),
                400, "field 'port' must be a whole number");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":\"true\",\"targetDir\":\"/tmp/x\",\"port\":40101}"),
                400, "field 'latest' must be true or false");
        for (String seconds : new String[]{"1764000000", "\"1764000000\"", "\"-5\"", "\"1764000000.5\""}) {
            assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"time\":" + seconds + ",\"targetDir\":\"/tmp/x\",\"port\":40101}"),
                    400, "field 'time' must be an ISO-8601 time with an offset");
        }
        assertProblem(call("POST", "/v1/databases", ADMIN, "[]"), 400, "the body must be a JSON object");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, null), 400, "has no body");
        assertProblem(call("GET", "/v1/databases/nope", ADMIN, null), 404, "not registered");
        assertProblem(call("POST", "/v1/databases", ADMIN, "{\"id\":\"x\",\"pgUrl\":\"" + cluster.url() + "\",\"pgdata\":\"/x\",\"extra\":1}"),
                400, "extra");
        assertProblem(call("POST", "/v1/databases", ADMIN, "{\"pgUrl\":\"" + cluster.url() + "\"}"), 400, "id");
        assertProblem(call("POST", "/v1/databases", ADMIN, "{\"id\":123,\"pgUrl\":\"" + cluster.url() + "\",\"pgdata\":\"/x\"}"),
                400, "field 'id' must be a string");
        assertProblem(call("POST", "/v1/databases", ADMIN, "{\"id\":\"a\",\"id\":\"b\",\"pgUrl\":\"x\",\"pgdata\":\"/x\"}"),
                400, "Duplicate field 'id'");
        assertProblem(call("POST", "/v1/databases/shop/base-backups", ADMIN, "{\"foo\":1}"), 400, "takes no fields");
        assertProblem(call("POST", "/v1/databases/shop/base-backups", ADMIN, "x"), 400, "not the JSON");
        // a path or a method no endpoint takes: said in an operator's words, with where the endpoints are listed
        assertProblem(call("POST", "/v1/databases/shop/backups", ADMIN, "{}"), 404,
                "no endpoint answers POST /v1/databases/shop/backups: the API's endpoints are listed at /v1/openapi");
        HttpResponse<String> put = call("PUT", "/v1/databases", ADMIN, "{}");
        assertProblem(put, 405, "PUT is not taken by /v1/databases: it takes GET, POST");
        assertThat(put.headers().firstValue("Allow")).hasValueSatisfying(allow -> assertThat(allow).contains("GET", "POST"));
        assertProblem(call("POST", "/v1/databases", ADMIN, "{\"id\":\"big\",\"pgdata\":\"" + "x".repeat(100_000) + "\"}"), 413, "at most");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN,
                "{\"time\":\"2026-11-24T10:00:00\",\"targetDir\":\"/tmp/r\",\"port\":5999}"), 400, "field 'time' must be an ISO-8601 time with an offset");
        for (String evil : new String[]{"..%2F..%2Fetc", "%2e%2e", "a%00b", "UPPER"}) {
            HttpResponse<String> r = call("GET", "/v1/databases/" + evil + "/window", ADMIN, null);
            assertThat(r.statusCode()).as("%s: %s", evil, r.body()).isBetween(400, 499);
            assertThat(r.headers().firstValue("Content-Type").orElse(""))
                    .as("%s answers a problem, not an HTML page: %s", evil, r.body()).contains("json");
        }
        assertThat(json(call("GET", "/v1/databases", ADMIN, null))).as("nothing but shop was registered").hasSize(1);
        assertThat(json(call("GET", "/v1/databases", OPERATOR, null))).as("an operator of 'other' does not see shop").isEmpty();
        HttpResponse<String> page = call("GET", "/v1/databases?limit=1", ADMIN, null);
        assertThat(json(page)).as("a page of one").hasSize(1);
        assertThat(page.headers().firstValue("Link")).as("a full page links to the next")
                .hasValue("</v1/databases?limit=1&after=shop>; rel=\"next\"");
        assertThat(json(call("GET", "/v1/databases?limit=1&after=shop", ADMIN, null))).as("nothing after shop").isEmpty();
        assertThat(json(call("GET", "/v1/databases?limit=5", OPERATOR, null))).as("a page holds only what the token may read").isEmpty();
        assertProblem(call("GET", "/v1/databases?limit=0", ADMIN, null), 400, "limit must be between 1 and 1000");
        assertProblem(call("GET", "/v1/databases/shop", OPERATOR, null), 403, "may not read database shop");

        HttpResponse<String> accepted = call("POST", "/v1/databases/shop/base-backups", ADMIN, null);
        assertThat(accepted.statusCode()).isEqualTo(202);
        String id = json(accepted).path("id").asText();
        assertThat(accepted.headers().firstValue("Location")).hasValue("/v1/databases/shop/base-backups/" + id);
        assertProblem(call("POST", "/v1/databases/shop/base-backups", ADMIN, null), 409, id);
        // a GET that waits for the job's change: its range checked, the token's scope and databases as for any GET
        String path = "/v1/databases/shop/base-backups/" + id;
        assertProblem(call("GET", path + "?waitSeconds=31", READER, null), 400, "waitSeconds must be between 0 and 30, not 31");
        assertProblem(call("GET", path + "?waitSeconds=-1", READER, null), 400, "waitSeconds must be between 0 and 30");
        assertProblem(call("GET", path + "?waitSeconds=20", OPERATOR, null), 403, "may not read database shop");
        assertThat(call("GET", path + "?waitSeconds=20", null, null).statusCode()).isEqualTo(401);
        String before = json(call("GET", path, READER, null)).path("status").asText();
        long asked = System.nanoTime();
        JsonNode after = json(call("GET", path + "?waitSeconds=20", READER, null));
        assertThat(Duration.ofNanos(System.nanoTime() - asked)).as("answered when the status changed, not after the 20 s")
                .isLessThan(Duration.ofSeconds(15));
        assertThat(after.path("status").asText()).as("from %s", before).isNotEqualTo(before.matches("requested|running") ? before : "");
        JsonNode backup = awaitDone(path);
        assertThat(backup.path("status").asText()).as(backup.toString()).isEqualTo("completed");
        asked = System.nanoTime();
        assertThat(json(call("GET", path + "?waitSeconds=30", READER, null)).path("status").asText()).isEqualTo("completed");
        assertThat(Duration.ofNanos(System.nanoTime() - asked)).as("an ended job answers at once").isLessThan(Duration.ofSeconds(5));

        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN,
                "{\"time\":\"2020-01-01T00:00:00Z\",\"targetDir\":\"" + tmp.resolve("r") + "\",\"port\":5999}"), 400,
                "outside the recovery window [");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":true}"), 400, "targetDir");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN,
                "{\"time\":\"2099-01-01T00:00:00+01:00\",\"targetDir\":\"" + tmp.resolve("r") + "\",\"port\":5999}"), 400, "in the future");

        JsonNode events = json(call("GET", "/v1/databases/shop/events?from=0&limit=5", READER, null));
        assertThat(events.path("events").get(0).path("actor").asText()).isEqualTo("ops-admin");
    }

    @Test
    @Order(3)
    void verifyNamesADamagedBackupWithWhatItCosts() throws Exception {
        String server = "http://127.0.0.1:" + port;
        JsonNode intact = json(call("GET", "/v1/databases/shop/verify", READER, null));
        assertThat(intact.path("problems")).as(intact.toString()).isEmpty();
        assertThat(intact.path("baseBackups").asInt()).isEqualTo(1);
        // how far a running verification has come is a read; with none running, a 404 that says so
        assertProblem(call("GET", "/v1/databases/shop/verify/progress", READER, null), 404, "no verification of shop is running");
        assertThat(cli(0, with(new String[]{"--server", server, "--token", READER}, "verify", "shop"))).contains("intact");
        String backupId = json(call("GET", "/v1/databases/shop/base-backups", READER, null)).get(0).path("id").asText();
        Path manifest = tmp.resolve("data/repository/db/shop/base/" + backupId + "/manifest");
        byte[] original = Files.readAllBytes(manifest);
        try {
            dev.tidemark.engine.testing.TestRepositories.flipByte(tmp.resolve("data/repository"),
                    "db/shop/base/" + backupId + "/manifest", original.length / 2);
            String told = cli(1, with(new String[]{"--server", server, "--token", ADMIN}, "verify", "shop"));
            assertThat(told).contains("base backup " + backupId + " damaged: its manifest")
                    .contains("costs: no intact base backup is left: the whole window");
            assertThat(call("POST", "/v1/databases/shop/verify", OPERATOR, null).statusCode()).isEqualTo(403);
        } finally {
            Files.write(manifest, original);
        }
    }

    @Test
    @Order(4)
    void dumpsDownloadWholeOrResumed() throws Exception {
        cluster.execute("create table fruit(name text)", "insert into fruit values ('apple'), ('pear')", "create database copy",
                "create table bulk as select md5(i::text) || md5((i * 7)::text) as x from generate_series(1, 20000) i");
        HttpResponse<String> accepted = call("POST", "/v1/databases/shop/dumps", ADMIN, "{\"databases\":[\"postgres\",\"copy\"]}");
        assertThat(accepted.statusCode()).as(accepted.body()).isEqualTo(202);
        String id = json(accepted).path("id").asText();
        assertThat(awaitDone("/v1/databases/shop/dumps/" + id).path("status").asText()).isEqualTo("completed");
        assertProblem(call("GET", "/v1/databases/shop/dumps/" + id + "/download", READER, null), 400,
                "holds 2 databases, one archive each: [postgres, copy]");
        String path = "/v1/databases/shop/dumps/" + id + "/download?database=postgres";
        HttpResponse<byte[]> whole = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", "Bearer " + READER).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(new String(whole.body(), 0, 5, StandardCharsets.US_ASCII)).isEqualTo("PGDMP");
        HttpResponse<byte[]> rest = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", "Bearer " + READER).header("Range", "bytes=100-").build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(rest.statusCode()).isEqualTo(206);
        assertThat(rest.body()).isEqualTo(Arrays.copyOfRange(whole.body(), 100, whole.body().length));
        // a Range not served (garbage, a suffix) is ignored: the whole archive; one past the end is a problem+json 416
        for (String ignored : java.util.List.of("bytes=abc", "bytes=-10", "bytes=99999999999999999999999-")) {
            HttpResponse<byte[]> all = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .header("Authorization", "Bearer " + READER).header("Range", ignored).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(all.statusCode()).as(ignored).isEqualTo(200);
            assertThat(all.body()).as(ignored).isEqualTo(whole.body());
        }
        HttpResponse<String> beyond = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", "Bearer " + READER).header("Range", "bytes=" + whole.body().length + "-").build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(beyond.statusCode()).isEqualTo(416);
        assertThat(beyond.headers().firstValue("Content-Type").orElse("")).startsWith("application/problem+json");
        assertThat(beyond.body()).contains("the archive has " + whole.body().length + " bytes");

        HttpResponse<String> restore = call("POST", "/v1/databases/shop/dumps/" + id + "/restore", ADMIN,
                "{\"database\":\"postgres\",\"targetDatabase\":\"copy\"}");
        assertThat(restore.statusCode()).as(restore.body()).isEqualTo(202);
        JsonNode restored = awaitDone("/v1/databases/shop/restores/" + json(restore).path("id").asText());
        assertThat(restored.path("status").asText()).as(restored.toString()).isEqualTo("completed");
        try (var c = cluster.connect("copy"); var s = c.createStatement(); var r = s.executeQuery("select count(*) from fruit")) {
            r.next();
            assertThat(r.getInt(1)).isEqualTo(2);
        }
        assertProblem(call("POST", "/v1/databases/shop/dumps/" + id + "/restore", ADMIN,
                "{\"database\":\"nosuch\",\"targetDatabase\":\"copy\"}"), 400, "holds no database");
        // copy holds tables now: a second restore into it would replace them, so it must say so
        cluster.executeIn("copy", "insert into fruit values ('newer')");
        assertProblem(call("POST", "/v1/databases/shop/dumps/" + id + "/restore", ADMIN,
                "{\"database\":\"postgres\",\"targetDatabase\":\"copy\"}"), 409, "is not empty");
        HttpResponse<String> replace = call("POST", "/v1/databases/shop/dumps/" + id + "/restore", ADMIN,
                "{\"database\":\"postgres\",\"targetDatabase\":\"copy\",\"replace\":true}");
        assertThat(replace.statusCode()).as(replace.body()).isEqualTo(202);
        assertThat(awaitDone("/v1/databases/shop/restores/" + json(replace).path("id").asText()).path("status").asText())
                .isEqualTo("completed");
        try (var c = cluster.connect("copy"); var s = c.createStatement(); var r = s.executeQuery("select count(*) from fruit")) {
            r.next();
            assertThat(r.getInt(1)).as("replaced by the dump's rows").isEqualTo(2);
        }
        // any name PostgreSQL allows, '=' and quotes included (given to pg_restore as a quoted connection setting)
        String odd = "we\"ird 'ü=x+y%41";
        cluster.execute("create database \"" + odd.replace("\"", "\"\"") + "\"");
        HttpResponse<String> intoOdd = call("POST", "/v1/databases/shop/dumps/" + id + "/restore", ADMIN,
                JSON.writeValueAsString(java.util.Map.of("database", "postgres", "targetDatabase", odd)));
        assertThat(intoOdd.statusCode()).as(intoOdd.body()).isEqualTo(202);
        JsonNode oddDone = awaitDone("/v1/databases/shop/restores/" + json(intoOdd).path("id").asText());
        assertThat(oddDone.path("status").asText()).as(oddDone.toString()).isEqualTo("completed");
        try (var c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + cluster.port() + "/"
                + java.net.URLEncoder.encode(odd, StandardCharsets.UTF_8) + "?user=postgres");
             var s = c.createStatement(); var r = s.executeQuery("select count(*) from fruit")) {
            r.next();
            assertThat(r.getInt(1)).isEqualTo(2);
        }
    }

    @Test
    @Order(5)
    void metricsAndTheCli() throws Exception {
        HttpResponse<String> metrics = call("GET", "/actuator/prometheus", READER, null);
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (!metrics.body().contains("database=\"shop\"") && System.nanoTime() < deadline) {
            Thread.sleep(500);
            metrics = call("GET", "/actuator/prometheus", READER, null);
        }
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("tidemark_window_end_seconds{database=\"shop\"}", "tidemark_last_base_backup_age_seconds");
        assertThat(metrics.body()).contains("tidemark_failures_total{database=\"shop\",kind=\"base_backup\"}", "tidemark_wal_stream_failing{database=\"shop\"} 0");

        String server = "http://127.0.0.1:" + port;
        String[] read = {"--server", server, "--token", READER};
        String[] admin = {"--server", server, "--token", ADMIN};
        Path noDir = tmp.resolve("no-such-dir");
        assertThat(cli(2, new String[]{"db", "list", "--server", server, "--data-dir", noDir.toString()}))
                .as("a refusal with no token says where the CLI looked").contains(noDir.resolve("admin.token") + " does not exist");
        assertThat(cli(0, with(read, "db", "list"))).contains("shop", "active");
        // issue 20: the engine nodes sharing the catalog (this one alone), with the databases each holds
        JsonNode nodes = json(call("GET", "/v1/nodes", READER, null));
        assertThat(nodes).as(nodes.toString()).hasSize(1);
        assertThat(nodes.get(0).path("id").asText()).isEqualTo("node-1");
        assertThat(nodes.get(0).path("live").asBoolean()).isTrue();
        assertThat(nodes.get(0).path("heartbeatAgeSeconds").asDouble()).isBetween(0.0, 10.0);
        assertThat(nodes.get(0).path("databases").toString()).contains("\"shop\"");
        assertThat(cli(0, with(read, "node", "list"))).contains("NODE", "HEARTBEAT", "node-1", "s ago", "live", "shop");
        assertThat(parse(cli(0, with(read, "node", "list", "--json"))).get(0).path("id").asText()).isEqualTo("node-1");
        assertThat(parse(cli(0, with(read, "db", "status", "shop", "--json"))).path("id").asText()).isEqualTo("shop");
        assertThat(cli(0, with(read, "db", "status", "shop"))).as("the timeline the stream follows").containsPattern("timeline:\\s+1")
                .as("where its configuration is").containsPattern("configuration:\\s+configuration inside the data directory");
        assertThat(cli(0, with(read, "window", "shop"))).startsWith("[");
        JsonNode all = parse(cli(0, with(read, "backup", "list", "shop", "--json")));
        assertThat(all.path("baseBackups").get(0).path("status").asText()).isEqualTo("completed");
        String dumpId = all.path("dumps").get(0).path("id").asText();
        assertThat(cli(0, with(read, "backup", "show", "shop", dumpId))).contains("completed");
        Path file = tmp.resolve("cli.dump");
        assertThat(cli(2, with(read, "backup", "download", "shop", dumpId, "-o", file.toString()))).contains("say which to download");
        assertThat(file).doesNotExist();
        assertThat(cli(0, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", file.toString()))).contains("wrote");
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                .as("the database's data in plain: for its owner alone").isEqualTo("rw-------");
        assertThat(new String(Files.readAllBytes(file), 0, 5, StandardCharsets.US_ASCII)).isEqualTo("PGDMP");
        byte[] whole = Files.readAllBytes(file);
        assertThat(cli(0, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", file.toString()))).contains("holds the whole dump already");
        JsonNode downloaded = parse(cli(0, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", file.toString(), "--json")));
        assertThat(downloaded.path("file").asText()).isEqualTo(file.toAbsolutePath().toString());
        assertThat(downloaded.path("bytes").asLong()).isEqualTo(whole.length);
        assertThat(downloaded.path("written").asLong()).as("nothing left to download").isZero();
        Files.write(file, java.util.Arrays.copyOf(whole, whole.length / 2));
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--")); // made another way
        assertThat(cli(0, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", file.toString()))).contains("resumed at byte");
        assertThat(Files.readAllBytes(file)).as("a resumed download").isEqualTo(whole);
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                .as("a partial copy the download completes is the owner's alone too").isEqualTo("rw-------");
        // damage in the middle, where the ends a resume compares do not reach: the SHA-256 check says so
        assertThat(whole.length).as("larger than the two 64 KiB ends").isGreaterThan(3 * 65536);
        byte[] damaged = whole.clone();
        damaged[whole.length / 2] ^= 0x5a;
        Files.write(file, damaged);
        assertThat(cli(1, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", file.toString())))
                .contains("differs from dump").contains("download again");
        Files.write(file, java.util.Arrays.copyOf(damaged, whole.length * 3 / 4));
        assertThat(cli(1, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", file.toString())))
                .as("resumed onto a damaged partial copy").contains("differs from dump");
        Files.delete(file);
        assertThat(cli(0, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", "-")))
                .as("'-o -' is standard output").startsWith("PGDMP");
        assertThat(Path.of("-")).doesNotExist();
        Path other = tmp.resolve("other.dump");
        Files.write(other, new byte[100]);
        assertThat(cli(2, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", other.toString()))).contains("not a partial copy");
        assertThat(Files.size(other)).as("nothing written").isEqualTo(100);
        assertThat(cli(2, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", tmp.resolve("no/such/dir/x.dump").toString())))
                .contains("does not exist");
        int failuresBefore = parse(cli(0, with(read, "backup", "list", "shop", "--json"))).path("dumps").size();
        assertThat(cli(2, with(admin, "backup", "dump", "shop", "--database", "nope"))).contains("no database nope");
        assertThat(cli(2, with(admin, "backup", "restore-dump", "shop", dumpId, "--database", "postgres", "--into", "nosuchdb")))
                .contains("target database nosuchdb does not exist");
        assertThat(parse(cli(0, with(read, "backup", "list", "shop", "--json"))).path("dumps").size()).as("nothing recorded")
                .isEqualTo(failuresBefore);
        JsonNode events = parse(cli(0, with(read, "events", "shop", "--json", "--limit", "3")));
        assertThat(events.path("events")).hasSize(3);
        assertThat(cli(0, with(admin, "read-model", "rebuild"))).contains("read model rebuilt: 1 databases");
        assertThat(cli(2, with(read, "read-model", "rebuild"))).contains("error: Forbidden");
        assertThat(parse(cli(0, with(read, "backup", "list", "shop", "--json")))).as("the lists after a rebuild").isEqualTo(all);
        assertThat(cli(0, with(admin, "db", "policy", "shop", "--window", "14d"))).contains("window:               14d");
        assertThat(cli(2, with(admin, "db", "policy", "shop", "--window", "0d"))).as("the window as the operator wrote it")
                .contains("recovery window 0d is out of range");
        assertThat(cli(2, with(read, "backup", "download", "shop", "nosuch", "-o", tmp.resolve("x").toString())))
                .contains("neither a base backup id (base-...) nor a dump id (dump-...)");
        // connection changes: checked as a registration is, nothing changed on a refusal; the same servers again is no change
        assertThat(cli(2, with(admin, "db", "connection", "shop"))).contains("nothing to change");
        assertThat(cli(2, with(admin, "db", "connection", "shop", "--pg-url", "postgresql://postgres@127.0.0.1:1/postgres")))
                .contains("cannot connect to the primary");
        assertThat(cli(2, with(admin, "db", "connection", "shop", "--pgdata", tmp.toString()))).contains("no readable PG_VERSION");
        assertThat(cli(2, with(admin, "db", "connection", "shop", "--standby-url", cluster.url()))).contains("not in recovery");
        assertProblem(call("PATCH", "/v1/databases/shop", ADMIN, "{}"), 400, "nothing to change");
        assertProblem(call("PATCH", "/v1/databases/nope", ADMIN, "{\"pgdata\":\"/x\"}"), 404, "not registered");
        assertThat(cli(2, with(read, "db", "connection", "shop", "--pgdata", cluster.dataDirectory().toString()))).contains("Forbidden");
        assertThat(cli(0, with(admin, "db", "connection", "shop", "--pg-url", cluster.url(), "--pgdata",
                cluster.dataDirectory().toString()))).contains("primary:").contains(cluster.url());
        assertThat(parse(cli(0, with(read, "events", "shop", "--json", "--limit", "1000"))).path("events").findValuesAsText("type"))
                .as("the same servers again change nothing").doesNotContain("ConnectionChanged");
        assertThat(cli(2, with(read, "backup", "base", "shop"))).contains("error: Forbidden");
        assertThat(cli(2, with(admin, "restore", "shop", "--time", "yesterday", "--target-dir", "/tmp/x", "--port", "5999")))
                .contains("not an ISO-8601 time");
        assertThat(cli(2, with(admin, "restore", "shop", "--time", "2020-01-01T00:00:00Z", "--target-dir", tmp.resolve("cli-r").toString(), "--port", "5999"))).contains("outside the recovery window");
        assertThat(cli(2, with(read, "db", "status", "nope"))).contains("not registered");
        assertThat(cli(2, with(read, "db", "status", "a b"))).as("no id: said what ids are, the space not sent as a plus")
                .contains("/v1/databases/a%20b").contains("lower-case letters, digits and '-'");
        assertThat(cli(1, new String[]{"db", "list", "--server", "http://127.0.0.1:1", "--token", READER})).contains("cannot reach");
        JsonNode restore = parse(cli(0, with(admin, "restore", "shop", "--latest", "--target-dir", tmp.resolve("cli-latest").toString(), "--port", Integer.toString(PostgresCluster.freePort()), "--wait", "--json")));
        assertThat(restore.path("status").asText()).as(restore.toString()).isEqualTo("completed");
        assertThat(cli(0, with(read, "restore", "list", "shop"))).contains(restore.path("id").asText());
        assertThat(cli(2, with(admin, "restore", "cancel", "shop", restore.path("id").asText()))).contains("is completed: there is nothing to cancel");
        assertThat(cli(2, with(read, "restore", "cancel", "shop", restore.path("id").asText()))).contains("Forbidden");
        assertThat(cli(2, with(admin, "db", "add", "shop2", "--pg-url", cluster.url(), "--pgdata", cluster.dataDirectory().toString())))
                .contains("protected already as database shop");
        // the restored copy is a cluster of its own: it can be protected
        assertThat(cli(0, with(admin, "db", "add", "shop2", "--pg-url", "postgresql://postgres@127.0.0.1:" + restore.path("port").asInt()
                + "/postgres", "--pgdata", tmp.resolve("cli-latest").toString(), "--window", "3d"))).contains("registered shop2")
                .as("the layout registration found").contains("configuration: configuration inside the data directory");
        JsonNode dump = parse(cli(0, with(admin, "backup", "dump", "shop2", "--database", "postgres", "--wait", "--json")));
        assertThat(dump.path("status").asText()).as(dump.toString()).isEqualTo("completed");
        assertThat(cli(0, with(admin, "db", "remove", "shop2", "--purge"))).contains("deregistered shop2");
        assertThat(parse(cli(0, with(read, "db", "status", "shop2", "--json"))).path("status").asText()).isEqualTo("deregistered");
        // with --json an error is a JSON document on stdout too (and its line on stderr)
        JsonNode error = parse(cli(2, with(read, "db", "status", "nope", "--json"))).path("error");
        assertThat(error.path("status").asInt()).isEqualTo(404);
        assertThat(error.path("message").asText()).contains("nope");
        assertThat(error.path("exitCode").asInt()).isEqualTo(2);
        assertThat(cli(2, new String[]{"--server", "notaurl", "db", "list"})).contains("invalid server address 'notaurl'");
        // refused by the CLI itself (a malformed time; no server reached): the same document, without a status
        JsonNode refused = parse(cli(2, with(admin, "restore", "shop", "--time", "garbage", "--target-dir", tmp.resolve("never").toString(),
                "--port", "5999", "--json"))).path("error");
        assertThat(refused.path("exitCode").asInt()).as(refused.toString()).isEqualTo(2);
        assertThat(refused.path("status").isNull()).as(refused.toString()).isTrue();
        JsonNode unreached = parse(cli(2, new String[]{"--server", "notaurl", "db", "list", "--json"})).path("error");
        assertThat(unreached.path("status").isNull()).as("no server answered: %s", unreached).isTrue();
        assertThat(unreached.path("exitCode").asInt()).isEqualTo(2);
        Path key = tmp.resolve("cli.key");
        assertThat(cli(0, new String[]{"key", "generate", key.toString()})).contains("wrote master key");
        assertThat(cli(2, new String[]{"key", "generate", key.toString()})).contains("a master key is never overwritten");
        String token = cli(0, new String[]{"token", "create", "ci-bot", "--scope", "operator", "--database", "shop"});
        assertThat(token).contains("scope: operator", "sha256: ", "databases: [shop]");
        assertThat(cli(0, with(read, "restore", "status", "shop", restore.path("id").asText()))).contains("completed");
        new dev.tidemark.engine.postgres.PgServer(dev.tidemark.engine.postgres.PgBinaries.locate(java.util.Optional.empty()),
                ServerUser.detect(), tmp.resolve("cli-latest")).stop();
    }

    @Test
    @Order(6)
    void downloadsNeverFollowASymlink() throws Exception {
        String[] read = {"--server", "http://127.0.0.1:" + port, "--token", READER};
        JsonNode all = parse(cli(0, with(read, "backup", "list", "shop", "--json")));
        String dumpId = completed(all.path("dumps"));
        String baseId = completed(all.path("baseBackups"));
        // a dangling link at FILE: refused, its target not created (it used to be, with mode 0644)
        Path planted = tmp.resolve("planted");
        Path link = Files.createSymbolicLink(tmp.resolve("link.dump"), planted);
        assertThat(cli(2, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", link.toString())))
                .contains("is a symbolic link, which a download never follows");
        assertThat(planted).doesNotExist();
        // a link to a regular file is not a partial copy to resume either: the file it points to is left as it is
        Path victim = tmp.resolve("victim");
        Files.write(victim, new byte[]{1, 2, 3});
        Files.setPosixFilePermissions(victim, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        Path toVictim = Files.createSymbolicLink(tmp.resolve("victim.dump"), victim);
        assertThat(cli(2, with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", toVictim.toString())))
                .contains("symbolic link");
        assertThat(Files.readAllBytes(victim)).containsExactly(1, 2, 3);
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(victim))).isEqualTo("rw-r--r--");
        // a base backup: a link at FILE is refused; one at FILE.part is replaced by a new file, not followed
        Path baseLink = Files.createSymbolicLink(tmp.resolve("link.tar"), planted);
        assertThat(cli(2, with(read, "backup", "download", "shop", baseId, "-o", baseLink.toString()))).contains("exists");
        Path tar = tmp.resolve("via-part.tar");
        Files.createSymbolicLink(tmp.resolve("via-part.tar.part"), planted);
        assertThat(cli(0, with(read, "backup", "download", "shop", baseId, "-o", tar.toString()))).contains("wrote");
        assertThat(planted).doesNotExist();
        assertThat(Files.isRegularFile(tar, java.nio.file.LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(tar))).isEqualTo("rw-------");
        assertThat(tmp.resolve("via-part.tar.part")).doesNotExist();
        // standard output that fails part way (a full disk, a pipe whose reader stopped): exit 1, said so, never "wrote"
        for (String[] download : List.of(with(read, "backup", "download", "shop", dumpId, "--database", "postgres", "-o", "-"),
                with(read, "backup", "download", "shop", baseId, "-o", "-"))) {
            assertThat(cliIntoFailingStdout(1, 4096, download)).as(String.join(" ", download)).contains("standard output failed")
                    .contains("must not be used").doesNotContain("wrote").doesNotContain("The server stops");
        }
    }

    /** As cli, with standard output failing after limit bytes (as on a full disk, or a pipe closed); returns stderr. */
    private String cliIntoFailingStdout(int expectedExit, int limit, String[] args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        java.io.OutputStream full = new java.io.OutputStream() {
            private int written;

            @Override
            public void write(int b) throws java.io.IOException {
                write(new byte[]{(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws java.io.IOException {
                if (written + len > limit) {
                    throw new java.io.IOException("No space left on device");
                }
                written += len;
            }
        };
        PrintStream capturedErr = new PrintStream(stderr, true, StandardCharsets.UTF_8);
        System.setOut(new PrintStream(full, false));
        System.setErr(capturedErr);
        try {
            var cl = Tidemark.commandLine(args);
            cl.setErr(new java.io.PrintWriter(capturedErr, true));
            assertThat(cl.execute(args)).as("exit code of tidemark %s: %s", String.join(" ", args), stderr).isEqualTo(expectedExit);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        return withoutServerLog(stderr.toString(StandardCharsets.UTF_8));
    }

    @Test
    @Order(7)
    void theCliTakesNamesStartingWithADashAndRefusesTemplates() throws Exception {
        String server = "http://127.0.0.1:" + port;
        String[] read = {"--server", server, "--token", READER};
        String[] admin = {"--server", server, "--token", ADMIN};
        String dumpId = completed(parse(cli(0, with(read, "backup", "list", "shop", "--json"))).path("dumps"));
        // option values that look like options ('-h' and '-V' are the CLI's own) reach the server as names
        assertThat(cli(2, with(admin, "backup", "dump", "shop", "--database", "-h"))).contains("no database -h");
        assertThat(cli(2, with(admin, "backup", "dump", "shop", "--database=-V"))).contains("no database -V");
        assertThat(cli(2, with(admin, "backup", "restore-dump", "shop", dumpId, "--database", "postgres", "--into", "-hV")))
                .contains("target database -hV does not exist");
        cluster.execute("create database \"-h\"");
        JsonNode intoDashed = parse(cli(0, with(admin, "backup", "restore-dump", "shop", dumpId, "--database", "postgres", "--into", "-h",
                "--wait", "--json")));
        assertThat(intoDashed.path("status").asText()).as(intoDashed.toString()).isEqualTo("completed");
        try (var c = cluster.connect("-h"); var s = c.createStatement(); var r = s.executeQuery("select count(*) from fruit")) {
            r.next();
            assertThat(r.getInt(1)).isEqualTo(2);
        }
        // after '--' every argument is a positional, whatever it starts with
        assertThat(cli(0, new String[]{"token", "create", "--scope", "read", "--", "-h"})).contains("name: -h");
        assertThat(cli(2, new String[]{"--server", server, "--token", READER, "db", "status", "--", "-V"}))
                .doesNotContain("Unknown option", "Missing required").contains("-V");
        // a template is copied into every new database: never a dump restore's target (nothing recorded)
        int restores = json(call("GET", "/v1/databases/shop/restores", READER, null)).size();
        for (String template : new String[]{"template1", "template0"}) {
            assertThat(cli(2, with(admin, "backup", "restore-dump", "shop", dumpId, "--database", "postgres", "--into", template,
                    "--replace"))).contains("database " + template + " is a template");
            assertProblem(call("POST", "/v1/databases/shop/dumps/" + dumpId + "/restore", ADMIN,
                    "{\"database\":\"postgres\",\"targetDatabase\":\"" + template + "\"}"), 400, "is a template");
        }
        assertThat(json(call("GET", "/v1/databases/shop/restores", READER, null))).as("nothing recorded").hasSize(restores);
    }

    /** The id of the first completed row of a list of base backups or dumps. */
    private static String completed(JsonNode rows) {
        for (JsonNode row : rows) {
            if ("completed".equals(row.path("status").asText())) {
                return row.path("id").asText();
            }
        }
        throw new AssertionError("nothing completed in " + rows);
    }

    @Test
    @Order(8)
    void anInPlaceRestoreCanLeaveTheServerStoppedForItsServiceManager() throws Exception {
        String server = "http://127.0.0.1:" + port;
        String[] admin = {"--server", server, "--token", ADMIN};
        cluster.execute("insert into fruit values ('cherry')");
        java.time.Instant moment = cluster.serverNow();
        Thread.sleep(1100);
        cluster.execute("insert into fruit values ('after the moment')");
        long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
        while (System.nanoTime() < deadline && !java.time.Instant.parse(json(call("GET", "/v1/databases/shop/window", READER, null))
                .path("end").asText("1970-01-01T00:00:00Z")).isAfter(moment.plusSeconds(1))) {
            Thread.sleep(300);
        }
        assertThat(cli(2, with(admin, "restore", "shop", "--latest", "--target-dir", tmp.resolve("x").toString(), "--port", "5999",
                "--leave-stopped"))).contains("--leave-stopped goes with --in-place");
        cluster.stopServer();
        JsonNode restored = parse(cli(0, with(admin, "restore", "shop", "--time", moment.toString(), "--in-place", "--leave-stopped",
                "--wait", "--json")));
        assertThat(restored.path("status").asText()).as(restored.toString()).isEqualTo("completed");
        assertThat(cluster.dataDirectory().resolve("postmaster.pid")).as("left stopped for the service manager").doesNotExist();
        assertThat(Files.readString(cluster.dataDirectory().resolve("postgresql.auto.conf"))).doesNotContain("restore_command");
        // the first base backup of the new timeline: not asked for while the server is stopped (it would fail), asked for
        // by the scheduler once it accepts connections again
        engine.runScheduledJobs();
        assertThat(afterRestoreBackups()).as("nothing asked of a stopped server").isEmpty();
        cluster.startServer();
        engine.runScheduledJobs();
        List<JsonNode> asked = afterRestoreBackups();
        assertThat(asked).as("the first base backup of the new timeline, asked once the server is back").hasSize(1);
        assertThat(awaitDone("/v1/databases/shop/base-backups/" + asked.get(0).path("id").asText()).path("status").asText())
                .isEqualTo("completed");
        engine.runScheduledJobs();
        assertThat(afterRestoreBackups()).as("asked once").hasSize(1);
        try (var c = cluster.connect(); var st = c.createStatement(); var r = st.executeQuery("select string_agg(name, ',' order by name) from fruit")) {
            r.next();
            assertThat(r.getString(1)).as("the database as at the moment").isEqualTo("apple,cherry,pear");
        }
    }

    /** The base backups asked for after the newest completed restore, by the restore or the scheduler. */
    private List<JsonNode> afterRestoreBackups() throws Exception {
        java.time.Instant restored = java.util.stream.StreamSupport.stream(json(call("GET", "/v1/databases/shop/restores", READER, null))
                        .spliterator(), false).filter(r -> r.path("status").asText().equals("completed"))
                .map(r -> java.time.Instant.parse(r.path("completedAt").asText())).max(java.util.Comparator.naturalOrder()).orElseThrow();
        return java.util.stream.StreamSupport.stream(json(call("GET", "/v1/databases/shop/base-backups", READER, null)).spliterator(), false)
                .filter(b -> !java.time.Instant.parse(b.path("requestedAt").asText()).isBefore(restored)).toList();
    }

    @Test
    @Order(9)
    void deregisterKeepsOrPurgesTheBackups() throws Exception {
        // the base backup the in-place restore before asked for (a second after it) ends first: one runs at a time
        long quietBy = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (System.nanoTime() < quietBy && java.util.stream.StreamSupport.stream(
                json(call("GET", "/v1/databases/shop/base-backups", READER, null)).spliterator(), false)
                .anyMatch(b -> b.path("status").asText().matches("requested|running"))) {
            Thread.sleep(200);
        }
        assertProblem(call("DELETE", "/v1/databases/shop", READER, null), 403, "dashboard");
        // not while work runs: its result could be neither recorded nor purged
        HttpResponse<String> running = call("POST", "/v1/databases/shop/base-backups", ADMIN, null);
        assertThat(running.statusCode()).as(running.body()).isEqualTo(202);
        String runningId = json(running).path("id").asText();
        assertProblem(call("DELETE", "/v1/databases/shop?purge=true", ADMIN, null), 409, "has work under way (base backup " + runningId);
        assertThat(awaitDone("/v1/databases/shop/base-backups/" + runningId).path("status").asText()).isEqualTo("completed");

        // a base backup downloads as a tar archive that starts as a data directory (BaseBackupTest starts one)
        String[] read = {"--server", "http://127.0.0.1:" + port, "--token", READER};
        Path tar = tmp.resolve("base.tar");
        assertThat(cli(0, with(read, "backup", "download", "shop", runningId, "-o", tar.toString()))).contains("wrote", "tar -xf", "pg_ctl -D DIR")
                .as("its configuration in its data directory: it starts as it is").doesNotContain("tidemark-external-config");
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(tar))).isEqualTo("rw-------");
        Process list = new ProcessBuilder("tar", "-tf", tar.toString()).redirectErrorStream(true).start();
        String listing = new String(list.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(list.waitFor()).as(listing).isZero();
        assertThat(listing.lines()).contains("backup_label", "PG_VERSION", "global/pg_control", "pg_wal/archive_status/")
                .anyMatch(l -> l.matches("pg_wal/[0-9A-F]{24}"));
        assertThat(cli(2, with(read, "backup", "download", "shop", runningId, "-o", tar.toString()))).contains("exists", "never written over");
        assertThat(cli(2, with(read, "backup", "download", "shop", runningId, "--database", "postgres", "-o", tmp.resolve("x.tar").toString())))
                .contains("--database is for dumps");
        assertProblem(call("GET", "/v1/databases/shop/base-backups/base-nope/download", READER, null), 404, "no base backup base-nope");
        // a damaged object cuts the transfer short: an HTTP client sees an incomplete answer, the CLI keeps nothing
        Path largest;
        try (var files = Files.walk(tmp.resolve("data/repository/db/shop/base/" + runningId + "/data"))) {
            largest = files.filter(Files::isRegularFile).max(java.util.Comparator.comparingLong(p -> p.toFile().length())).orElseThrow();
        }
        byte[] stored = Files.readAllBytes(largest);
        stored[stored.length / 2] ^= 0x5a;
        Files.write(largest, stored);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/v1/databases/shop/base-backups/" + runningId + "/download")).header("Authorization", "Bearer " + READER).build(),
                HttpResponse.BodyHandlers.ofByteArray())).isInstanceOf(java.io.IOException.class);
        Path damaged = tmp.resolve("damaged.tar");
        assertThat(cli(1, with(read, "backup", "download", "shop", runningId, "-o", damaged.toString()))).contains("cut short", "nothing was kept");
        assertThat(damaged).doesNotExist();
        assertThat(tmp.resolve("damaged.tar.part")).doesNotExist();

        // deregistered with its backups kept: no node holds its lease to run a restore, so none is recorded (one used to stay
        // requested for good and hold back the purge); its backups still download
        assertThat(call("DELETE", "/v1/databases/shop", ADMIN, null).statusCode()).isEqualTo(204);
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":true,\"targetDir\":\""
                + tmp.resolve("after-deregistration") + "\",\"port\":" + PostgresCluster.freePort() + "}"), 409, "is deregistered (its backups are kept)");
        String keptDump = json(call("GET", "/v1/databases/shop/dumps", READER, null)).get(0).path("id").asText();
        assertProblem(call("POST", "/v1/databases/shop/dumps/" + keptDump + "/restore", ADMIN,
                "{\"database\":\"postgres\",\"targetDatabase\":\"postgres\"}"), 409, "tidemark backup download shop " + keptDump);
        assertThat(json(call("GET", "/v1/databases/shop/restores", READER, null))).noneMatch(r -> r.path("status").asText()
                .matches("requested|running"));
        assertThat(cli(0, with(read, "backup", "download", "shop", keptDump, "--database", "postgres", "-o", tmp.resolve("kept.dump").toString())))
                .contains("wrote");

        assertThat(call("DELETE", "/v1/databases/shop?purge=true", ADMIN, null).statusCode()).isEqualTo(204);
        assertThat(json(call("GET", "/v1/databases/shop", READER, null)).path("status").asText()).isEqualTo("deregistered");
        assertProblem(call("POST", "/v1/databases/shop/base-backups", ADMIN, null), 409, "deregistered");
        JsonNode window = json(call("GET", "/v1/databases/shop/window", READER, null));
        assertThat(window.path("start").isMissingNode() || window.path("start").isNull()).as(window.toString()).isTrue();
        assertThat(window.path("note").asText()).contains("purged");
        assertProblem(call("POST", "/v1/databases/shop/restores", ADMIN, "{\"latest\":true,\"targetDir\":\"/tmp/never\",\"port\":5999}"),
                400, "nothing of it can be restored");
        // what was purged is listed as such and refused with a reason, not offered as completed
        assertThat(json(call("GET", "/v1/databases/shop/base-backups", READER, null)).findValuesAsText("status")).isNotEmpty()
                .allMatch(status -> status.equals("purged") || status.equals("failed"));
        JsonNode purgedDump = json(call("GET", "/v1/databases/shop/dumps", READER, null)).get(0);
        assertThat(purgedDump.path("status").asText()).isEqualTo("purged");
        String purgedDumpId = purgedDump.path("id").asText();
        assertProblem(call("GET", "/v1/databases/shop/dumps/" + purgedDumpId + "/download?database=postgres", READER, null), 409,
                "purged");
        assertProblem(call("GET", "/v1/databases/shop/base-backups/" + runningId + "/download", READER, null), 409, "purged");
        assertProblem(call("POST", "/v1/databases/shop/dumps/" + purgedDumpId + "/restore", ADMIN,
                "{\"database\":\"postgres\",\"targetDatabase\":\"postgres\"}"), 409, "purged");
        assertProblem(call("DELETE", "/v1/databases/shop?purge=true", ADMIN, null), 409, "purged already");
        assertProblem(call("POST", "/v1/databases", ADMIN, "{\"id\":\"shop\",\"pgUrl\":\"" + cluster.url() + "\",\"pgdata\":\""
                + cluster.dataDirectory() + "\"}"), 409, "choose another id");
        // backups, dumps and WAL go; the database's history (its events) stays, for an engine rebuilt from the repository
        Path objects = tmp.resolve("data/repository/db/shop");
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline && !listFiles(objects).stream().allMatch(f -> f.startsWith("events/"))) {
            Thread.sleep(200);
        }
        assertThat(listFiles(objects)).as("purged").isNotEmpty().allMatch(f -> f.startsWith("events/"));
        long metricsDeadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < metricsDeadline && call("GET", "/actuator/prometheus", READER, null).body().contains("database=\"shop\"")) {
            Thread.sleep(500);
        }
        assertThat(call("GET", "/actuator/prometheus", READER, null).body()).as("no series of a deregistered database")
                .doesNotContain("database=\"shop\"");
        try (var c = cluster.connect(); var s = c.createStatement();
             var r = s.executeQuery("select count(*) from pg_replication_slots where slot_name = 'tidemark_shop'")) {
            r.next();
            assertThat(r.getInt(1)).as("the slot is dropped, so the server stops keeping WAL").isZero();
        }
    }

    @Test
    @Order(10)
    void aNodeIsDrainedAndUndrainedByAdminsOnly() throws Exception {
        String server = "http://127.0.0.1:" + port;
        String[] read = {"--server", server, "--token", READER};
        String[] admin = {"--server", server, "--token", ADMIN};
        assertProblem(call("POST", "/v1/nodes/node-1/drain", READER, null), 403, "dashboard");
        assertProblem(call("POST", "/v1/nodes/node-1/drain", OPERATOR, null), 403, "team-other");
        assertThat(cli(2, with(read, "node", "drain", "node-1"))).contains("Forbidden");
        assertProblem(call("POST", "/v1/nodes/node-9/drain", ADMIN, null), 404, "node 'node-9' has no heartbeat");
        assertThat(cli(2, with(admin, "node", "drain", "node-9"))).contains("node 'node-9' has no heartbeat", "tidemark node list");

        // the only live node: drained, its databases would go to no node and their protection would stop (NodeTakeoverTest
        // drains one of several)
        assertProblem(call("POST", "/v1/nodes/node-1/drain", ADMIN, null), 409, "the only live node");
        assertThat(cli(2, with(admin, "node", "drain", "node-1"))).contains("the only live node", "nothing was changed");
        JsonNode kept = json(call("GET", "/v1/nodes", READER, null)).get(0);
        assertThat(kept.path("draining").asBoolean()).as(kept.toString()).isFalse();
        HttpResponse<String> undone = call("POST", "/v1/nodes/node-1/drain?undo=true", ADMIN, null);
        assertThat(undone.statusCode()).as(undone.body()).isEqualTo(200);
        assertThat(json(undone).path("draining").asBoolean()).isFalse();
        assertThat(cli(0, with(admin, "node", "drain", "node-1", "--undo"))).contains("node node-1 takes databases again");
        assertThat(cli(0, with(read, "node", "list"))).doesNotContain("draining");
    }

    private static List<String> listFiles(Path root) throws Exception {
        if (!Files.exists(root)) {
            return List.of();
        }
        try (var files = Files.walk(root)) {
            return files.filter(Files::isRegularFile).map(p -> root.relativize(p).toString()).toList();
        } catch (java.nio.file.NoSuchFileException | java.io.UncheckedIOException e) {
            return listFiles(root); // a file went while it was listed
        }
    }


    /** The command followed by the connection options. */
    private static String[] with(String[] connection, String... command) {
        return java.util.stream.Stream.concat(Arrays.stream(command), Arrays.stream(connection)).toArray(String[]::new);
    }

    /** The JSON document the CLI printed (server log lines of this same JVM may come before it). */
    private static JsonNode parse(String text) {
        int start = text.startsWith("{") || text.startsWith("[") ? 0 : Math.max(text.indexOf("\n{"), text.indexOf("\n[")) + 1;
        try {
            return JSON.readTree(text.substring(start));
        } catch (java.io.IOException e) {
            throw new AssertionError("not one JSON document: " + text, e);
        }
    }

    /** Runs the CLI in-process; returns its stdout, or for an expected failure its stderr and stdout. */
    private String cli(int expectedExit, String[] args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        PrintStream capturedOut = new PrintStream(stdout, true, StandardCharsets.UTF_8);
        PrintStream capturedErr = new PrintStream(stderr, true, StandardCharsets.UTF_8);
        System.setOut(capturedOut);
        System.setErr(capturedErr);
        try {
            var cl = Tidemark.commandLine(args); // as main builds it: only the subcommand named
            cl.setOut(new java.io.PrintWriter(capturedOut, true));
            cl.setErr(new java.io.PrintWriter(capturedErr, true));
            int code = cl.execute(args);
            assertThat(code).as("exit code of tidemark %s: %s %s", String.join(" ", args), stdout, stderr).isEqualTo(expectedExit);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        String o = withoutServerLog(stdout.toString(StandardCharsets.UTF_8));
        return expectedExit == 0 ? o : withoutServerLog(stderr.toString(StandardCharsets.UTF_8)) + o;
    }

    /**
     * The server runs in this JVM and logs to System.out, which the capture above swaps for the CLI's: a line it logs
     * meanwhile (a stream's retry, say) is not the CLI's output.
     */
    private static String withoutServerLog(String captured) {
        return SERVER_LOG_LINE.matcher(captured).replaceAll("");
    }

    private static final java.util.regex.Pattern SERVER_LOG_LINE = java.util.regex.Pattern.compile(
            "(?m)^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} +(TRACE|DEBUG|INFO|WARN|ERROR) .*\\R?");

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
