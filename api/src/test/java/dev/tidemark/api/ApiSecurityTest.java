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
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The API as an attacker with some access tries it: every route of the OpenAPI description under path variants a
 * router might read differently from a filter, without a token, with a read token and with an operator token of
 * another database; a foreign Host header; a body without a declared length; and a connection change that would send
 * the database's password to a listener of the caller's choice.
 */
@AutoConfigureObservability
@ExtendWith(OutputCaptureExtension.class)
@SpringBootTest(classes = ServerApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ApiSecurityTest {
    static final String ADMIN = "tdm_admin-secret-for-security";
    static final String READER = "tdm_reader-secret-for-security";
    static final String OTHER_OPERATOR = "tdm_other-operator-secret";
    static final String SHOP_OPERATOR = "tdm_shop-operator-secret";
    static final String PASSWORD = "canary-password-4f1d9a";
    static final ObjectMapper JSON = new ObjectMapper();
    static Path tmp;
    static PostgresCluster cluster;

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) throws Exception {
        tmp = Files.createTempDirectory("tidemark-security-");
        ServerUser.detect().ownOne(tmp);
        cluster = PostgresCluster.start();
        registry.add("tidemark.data-directory", () -> tmp.resolve("data").toString());
        registry.add("tidemark.scheduler.enabled", () -> "false");
        registry.add("tidemark.pg-passwords.shop", () -> PASSWORD);
        String[][] tokens = {{"ops-admin", "admin", ADMIN, null}, {"dashboard", "read", READER, null},
                {"team-other", "operator", OTHER_OPERATOR, "other"}, {"team-shop", "operator", SHOP_OPERATOR, "shop"}};
        for (int i = 0; i < tokens.length; i++) {
            String[] t = tokens[i];
            registry.add("tidemark.tokens[" + i + "].name", () -> t[0]);
            registry.add("tidemark.tokens[" + i + "].scope", () -> t[1]);
            registry.add("tidemark.tokens[" + i + "].sha256", () -> Tokens.sha256(t[2]));
            if (t[3] != null) {
                registry.add("tidemark.tokens[" + i + "].databases[0]", () -> t[3]);
            }
        }
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
        PostgresCluster.deleteTree(tmp);
    }

    /** One HTTP/1.1 exchange with the request line exactly as given (no client-side normalisation). */
    record Answer(int status, String head, String body) {
    }

    private Answer raw(String method, String path, String token, String host, String body) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(20_000);
            byte[] content = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
            StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n");
            if (token != null) {
                head.append("Authorization: Bearer ").append(token).append("\r\n");
            }
            if (body != null) {
                head.append("Content-Type: application/json\r\nContent-Length: ").append(content.length).append("\r\n");
            }
            OutputStream out = s.getOutputStream();
            out.write(head.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(content);
            out.flush();
            return parse(s.getInputStream().readAllBytes());
        }
    }

    private static Answer parse(byte[] response) {
        String text = new String(response, StandardCharsets.UTF_8);
        int status = text.startsWith("HTTP/1.1 ") ? Integer.parseInt(text.substring(9, 12)) : -1;
        int split = text.indexOf("\r\n\r\n");
        if (split < 0) {
            return new Answer(status, text, "");
        }
        String head = text.substring(0, split);
        String body = text.substring(split + 4);
        if (!head.toLowerCase().contains("transfer-encoding: chunked")) {
            return new Answer(status, head, body);
        }
        StringBuilder whole = new StringBuilder();
        int at = 0;
        while (at < body.length()) {
            int line = body.indexOf("\r\n", at);
            int size = line < 0 ? 0 : Integer.parseInt(body.substring(at, line).trim(), 16);
            if (size == 0) {
                break;
            }
            whole.append(body, line + 2, Math.min(body.length(), line + 2 + size));
            at = line + 2 + size + 2;
        }
        return new Answer(status, head, whole.toString());
    }

    private Answer call(String method, String path, String token, String body) throws IOException {
        return raw(method, path, token, "127.0.0.1:" + port, body);
    }

    /** Spellings of one path that a lenient router could take for it; none of them is the path itself. */
    static List<String> variants(String path) {
        String[] segments = path.substring(1).split("/");
        Set<String> out = new LinkedHashSet<>();
        for (int i = 0; i < segments.length; i++) {
            String s = segments[i];
            out.add(join(segments, i, s + ";"));
            out.add(join(segments, i, s + ";x=1"));
            out.add(join(segments, i, "%" + Integer.toHexString(s.charAt(0)) + s.substring(1)));
            out.add(join(segments, i, "%25" + Integer.toHexString(s.charAt(0)) + s.substring(1)));
            out.add(join(segments, i, "%" + Integer.toHexString(s.charAt(0)).toUpperCase() + s.substring(1)));
            out.add(join(segments, i, "./" + s));
            out.add(join(segments, i, "x/../" + s));
            out.add(join(segments, i, "%2e/" + s));
            out.add(join(segments, i, "/" + s));
            out.add(join(segments, i, s.toUpperCase()));
            out.add(join(segments, i, s.substring(0, 1).toUpperCase() + s.substring(1)));
            if (i + 1 < segments.length) {
                out.add(path.replace("/" + s + "/" + segments[i + 1], "/" + s + "%2F" + segments[i + 1]));
                out.add(path.replace("/" + s + "/" + segments[i + 1], "/" + s + "%2f" + segments[i + 1]));
                out.add(path.replace("/" + s + "/" + segments[i + 1], "/" + s + "\\" + segments[i + 1]));
            }
        }
        out.add("/" + path);
        out.add(path + "/");
        out.add(path + "/.");
        out.add(path + ";");
        out.add(path.replace("/", "%2F"));
        out.remove(path);
        return new ArrayList<>(out);
    }

    private static String join(String[] segments, int at, String replacement) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < segments.length; i++) {
            b.append('/').append(i == at ? replacement : segments[i]);
        }
        return b.toString();
    }

    /** Whether an answer is the gate's refusal (or a route that does not exist), not the handler's work. */
    private static boolean refused(String variant, Answer a) {
        boolean caseChanged = !variant.equals(variant.toLowerCase()) && !variant.contains("%");
        return a.status == 401 || a.status == 403 || a.status == 400 && a.body.contains("refused")
                || caseChanged && (a.status == 404 || a.status == 405);
    }

    @Test
    @Order(1)
    void noPathVariantPassesTheGate() throws Exception {
        String register = "{\"id\":\"shop\",\"pgUrl\":\"" + cluster.url() + "\",\"pgdata\":\"" + cluster.dataDirectory() + "\"}";
        Answer created = call("POST", "/v1/databases", ADMIN, register);
        assertThat(created.status).as(created.body).isEqualTo(201);
        long eventsBefore = requestedEvents();

        JsonNode openapi = JSON.readTree(call("GET", "/v1/openapi", null, null).body);
        List<String[]> routes = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = openapi.path("paths").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> route = it.next();
            String path = route.getKey().replace("{id}", "shop").replaceAll("\\{[a-zA-Z]+}", "x-1");
            route.getValue().fieldNames().forEachRemaining(m -> routes.add(new String[]{m.toUpperCase(), path}));
        }
        routes.add(new String[]{"GET", "/actuator/prometheus"});
        assertThat(routes).as("the OpenAPI description lists the routes").hasSizeGreaterThan(15);

        AtomicInteger tried = new AtomicInteger();
        List<String> through = new ArrayList<>();
        for (String[] route : routes) {
            String method = route[0];
            String path = route[1] + ("DELETE".equals(method) ? "?purge=true" : "");
            String body = "GET".equals(method) || "DELETE".equals(method) ? null : "{}";
            boolean aboutShop = path.startsWith("/v1/databases/shop");
            List<String[]> attempts = new ArrayList<>(); // token, path
            for (String variant : variants(route[1])) {
                String v = variant + ("DELETE".equals(method) ? "?purge=true" : "");
                attempts.add(new String[]{null, v});
                attempts.add(new String[]{READER, v});
                attempts.add(new String[]{OTHER_OPERATOR, v});
            }
            attempts.add(new String[]{null, path});
            if (!"GET".equals(method)) {
                attempts.add(new String[]{READER, path});
            }
            if (aboutShop || !"GET".equals(method)) {
                attempts.add(new String[]{OTHER_OPERATOR, path});
            }
            for (String[] attempt : attempts) {
                // a variant of a route the token may use anyway proves nothing: only refusals that matter are counted
                boolean mayAnyway = attempt[0] != null && "GET".equals(method)
                        && (READER.equals(attempt[0]) || !aboutShop && !path.startsWith("/actuator"));
                if (mayAnyway && !attempt[1].equals(path) && (attempt[1].contains(";") || attempt[1].contains("%") || attempt[1].contains("."))) {
                    Answer a = call(method, attempt[1], attempt[0], body);
                    assertThat(a.status).as("%s %s (%s): %s", method, attempt[1], attempt[0], a.body).matches(st -> st < 200 || st > 399, "not a success");
                    continue;
                }
                if (mayAnyway) {
                    continue;
                }
                tried.incrementAndGet();
                Answer a = call(method, attempt[1], attempt[0], body);
                if (!refused(attempt[1], a)) {
                    through.add(method + " " + attempt[1] + " with " + (attempt[0] == null ? "no token" : attempt[0]) + ": " + a.status
                            + " " + a.body.substring(0, Math.min(160, a.body.length())));
                }
            }
        }
        assertThat(through).as("of %d attempts", tried.get()).isEmpty();
        assertThat(tried.get()).isGreaterThan(500);

        Answer shop = call("GET", "/v1/databases/shop", ADMIN, null);
        assertThat(shop.status).as("shop is still registered").isEqualTo(200);
        assertThat(JSON.readTree(shop.body).path("status").asText()).isEqualTo("active");
        assertThat(JSON.readTree(call("GET", "/v1/databases/shop/base-backups", ADMIN, null).body)).isEmpty();
        assertThat(JSON.readTree(call("GET", "/v1/databases/shop/dumps", ADMIN, null).body)).isEmpty();
        assertThat(requestedEvents()).as("no event was recorded by any attempt").isEqualTo(eventsBefore);
    }

    @Test
    @Order(2)
    void anOperatorTokenLearnsNothingOfOtherDatabasesFromTheNodesOrTheMetrics() throws Exception {
        JsonNode byAdmin = JSON.readTree(call("GET", "/v1/nodes", ADMIN, null).body);
        assertThat(byAdmin.findValues("databases").stream().flatMap(d -> java.util.stream.StreamSupport.stream(d.spliterator(), false))
                .map(JsonNode::asText)).contains("shop");
        JsonNode byOther = JSON.readTree(call("GET", "/v1/nodes", OTHER_OPERATOR, null).body);
        assertThat(byOther).as("the nodes, listed").isNotEmpty();
        assertThat(byOther.findValues("databases")).as("no id of a database the token is not for").allMatch(JsonNode::isEmpty);
        JsonNode byShop = JSON.readTree(call("GET", "/v1/nodes", SHOP_OPERATOR, null).body);
        assertThat(byShop.findValues("databases").stream().flatMap(d -> java.util.stream.StreamSupport.stream(d.spliterator(), false))
                .map(JsonNode::asText)).containsOnly("shop");
        Answer metrics = call("GET", "/actuator/prometheus", SHOP_OPERATOR, null);
        assertThat(metrics.status).as(metrics.body).isEqualTo(403);
        assertThat(metrics.body).contains("covers every database").doesNotContain("tidemark_");
        assertThat(call("GET", "/actuator/prometheus", READER, null).status).isEqualTo(200);
        Answer errorPage = call("GET", "/error", ADMIN, null);
        assertThat(errorPage.status).as(errorPage.body).isEqualTo(404);
        assertThat(errorPage.body).contains("no endpoint answers GET /error");
    }

    /** The database's events but the WAL stream's own (its recording goes on meanwhile, whatever the attempts do). */
    private long requestedEvents() throws Exception {
        JsonNode events = JSON.readTree(call("GET", "/v1/databases/shop/events?limit=1000", ADMIN, null).body).path("events");
        long n = 0;
        for (JsonNode e : events) {
            if (!"wal-stream".equals(e.path("actor").asText())) {
                n++;
            }
        }
        return n;
    }

    @Test
    @Order(2)
    void foreignHostsAreRefusedAndAnswersAreNotCached() throws Exception {
        // (shop has no dump yet: the age of its last dump counts from the registration, so an alert on it can fire)
        String metrics = call("GET", "/actuator/prometheus", READER, null).body;
        for (long deadline = System.nanoTime() + 15_000_000_000L; !metrics.contains("database=\"shop\"") && System.nanoTime() < deadline; ) {
            Thread.sleep(500);
            metrics = call("GET", "/actuator/prometheus", READER, null).body;
        }
        assertThat(metrics).containsPattern("tidemark_last_dump_age_seconds\\{database=\"shop\"} [0-9]");

        Answer rebound = raw("GET", "/v1/databases", ADMIN, "evil.example:" + port, null);
        assertThat(rebound.status).as(rebound.body).isEqualTo(421);
        assertThat(rebound.body).contains("tidemark.allowed-hosts");
        assertThat(raw("GET", "/v1/databases", ADMIN, "localhost:" + port, null).status).isEqualTo(200);
        assertThat(raw("GET", "/v1/databases", ADMIN, "[::1]:" + port, null).status).isEqualTo(200);
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.getOutputStream().write(("GET /v1/databases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + READER
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            String head = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(head).containsIgnoringCase("Cache-Control: no-store");
        }
    }

    @Test
    @Order(3)
    void malformedRequestsAreOneLineAndSlowClientsAreCutOff(CapturedOutput output) throws Exception {
        for (String request : new String[]{"GARBAGE\r\n\r\n", "GET /v1/databases HTTP/1.1\r\nHost: a b\r\n\r\n"}) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout(20_000);
                s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
                assertThat(parse(readSome(s.getInputStream())).status).as(request).isEqualTo(400);
            }
        }
        assertThat(output.getAll()).contains("request refused before it reached the API (400)").doesNotContain("\tat org.apache");

        long started = System.nanoTime();
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(60_000);
            s.getOutputStream().write("GET /v1/databases HTTP/1.1\r\nHo".getBytes(StandardCharsets.ISO_8859_1));
            readSome(s.getInputStream()); // returns when the server closes the connection
        }
        assertThat((System.nanoTime() - started) / 1_000_000_000).as("seconds a silent client held a connection").isLessThan(30);
    }

    @Test
    @Order(4)
    void aChunkedBodyIsBoundedLikeADeclaredOne() throws Exception {
        System.gc();
        long before = usedHeap();
        long sent = 0;
        int status;
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/databases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + ADMIN
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            byte[] chunk = new byte[1024 * 1024];
            java.util.Arrays.fill(chunk, (byte) ' ');
            byte[] size = (Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
            try {
                while (sent < 100L * 1024 * 1024) {
                    out.write(size);
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    sent += chunk.length;
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            } catch (IOException e) {
                // the server closed the connection after its answer: the rest was never read
            }
            status = parse(readSome(s.getInputStream())).status;
        }
        System.gc();
        long grown = usedHeap() - before;
        assertThat(status).isEqualTo(413);
        assertThat(grown).as("heap growth after a refused 100 MiB body (sent %d bytes before the server closed)", sent)
                .isLessThan(32L * 1024 * 1024);
        assertThat(call("GET", "/v1/databases", ADMIN, null).status).as("the server answers on").isEqualTo(200);
    }

    private static byte[] readSome(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        int n;
        try {
            while ((n = in.read(buffer)) >= 0) {
                out.write(buffer, 0, n);
            }
        } catch (IOException e) {
            // a reset after the answer
        }
        return out.toByteArray();
    }

    private static long usedHeap() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    @Test
    @Order(5)
    void theStoredPasswordNeverReachesAListenerOfTheCallersChoice() throws Exception {
        for (int authCode : new int[]{3, 5}) { // clear text, MD5
            try (FakePostgres fake = new FakePostgres(authCode)) {
                String change = "{\"pgUrl\":\"postgresql://postgres@127.0.0.1:" + fake.port() + "/postgres\"}";
                Answer byOperator = call("PATCH", "/v1/databases/shop", SHOP_OPERATOR, change);
                assertThat(byOperator.status).as(byOperator.body).isEqualTo(403);
                assertThat(byOperator.body).contains("needs an admin token");
                assertThat(fake.connections.get()).as("nothing was contacted for the operator").isZero();

                Answer byAdmin = call("PATCH", "/v1/databases/shop", ADMIN, change);
                assertThat(byAdmin.status).as(byAdmin.body).isBetween(400, 499);
                assertThat(byAdmin.body).doesNotContain(PASSWORD);
                fake.close();
                assertThat(fake.connections.get()).as("the admin's change reached the listener").isPositive();
                assertThat(new String(fake.received(), StandardCharsets.ISO_8859_1)).doesNotContain(PASSWORD);
                assertThat(fake.passwordMessages.get()).as("no password message was sent (auth code %d)", authCode).isZero();
            }
        }
        Answer same = call("PATCH", "/v1/databases/shop", SHOP_OPERATOR, "{\"pgUrl\":\"" + cluster.url() + "\"}");
        assertThat(same.status).as("the same server stays the operator's to name: %s", same.body).isEqualTo(200);
    }

    @Test
    @Order(6)
    void theConsoleIsPublicForItsStaticFilesOnly() throws Exception {
        for (String file : List.of("/", "/console/app.js", "/console/console.css", "/console/icon.svg")) {
            Answer a = call("GET", file, null, null);
            assertThat(a.status).as(file + ": " + a.body).isEqualTo(200);
            assertThat(a.head).as(file).containsIgnoringCase("Content-Security-Policy: default-src 'none'; script-src 'self';")
                    .containsIgnoringCase("Cache-Control: no-store").doesNotContain("unsafe-inline");
            assertThat(call("HEAD", file, null, null).status).as("HEAD " + file).isEqualTo(200);
        }
        assertThat(call("GET", "/", null, null).body).contains("<script type=\"module\" src=\"/console/app.js\"></script>");
        // only GET and HEAD of those exact files: anything else under or beside them needs a token
        for (String other : List.of("/index.html", "/console", "/console/app.mjs", "/console/App.js", "/console/sub/app.js",
                "/console/app.js.map", "/v1/databases", "/actuator/prometheus")) {
            assertThat(call("GET", other, null, null).status).as(other).isEqualTo(401);
        }
        for (String method : List.of("POST", "PUT", "DELETE", "PATCH", "OPTIONS")) {
            assertThat(call(method, "/", null, "{}").status).as(method + " /").isEqualTo(401);
            assertThat(call(method, "/console/app.js", null, "{}").status).as(method + " /console/app.js").isEqualTo(401);
        }
        List<String> spellings = new ArrayList<>(variants("/console/app.js"));
        spellings.addAll(List.of("//", "/;", "/;x=1", "/.", "/%2F", "/%2e"));
        for (String variant : spellings) {
            Answer a = call("GET", variant, null, null);
            assertThat(a.status).as("GET %s: %s", variant, a.body).isIn(400, 401);
        }
        for (String escape : List.of("/console/../v1/databases", "/console/%2e%2e/v1/databases", "/console/..%2Fv1%2Fdatabases",
                "/console/x.js/../../v1/databases")) {
            Answer a = call("GET", escape, null, null);
            assertThat(a.status).as("GET %s: %s", escape, a.body).isEqualTo(400);
        }
    }

    /** A listener that speaks just enough of PostgreSQL's protocol to ask for a password, and keeps what it receives. */
    static final class FakePostgres implements AutoCloseable {
        final ServerSocket socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        final AtomicInteger connections = new AtomicInteger();
        final AtomicInteger passwordMessages = new AtomicInteger();
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        final Thread acceptor;

        FakePostgres(int authCode) throws IOException {
            acceptor = Thread.ofVirtual().start(() -> {
                while (!socket.isClosed()) {
                    try (Socket c = socket.accept()) {
                        connections.incrementAndGet();
                        c.setSoTimeout(5_000);
                        serve(c, authCode);
                    } catch (IOException e) {
                        // closed, or the client went away
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        private void serve(Socket c, int authCode) throws IOException {
            DataInputStream in = new DataInputStream(c.getInputStream());
            OutputStream out = c.getOutputStream();
            while (true) {
                int length = in.readInt();
                byte[] startup = in.readNBytes(length - 4);
                record(startup);
                if (length == 8 && java.nio.ByteBuffer.wrap(startup).getInt() == 80877103) {
                    out.write('N'); // no TLS here
                    continue;
                }
                break;
            }
            java.nio.ByteBuffer ask = java.nio.ByteBuffer.allocate(authCode == 5 ? 13 : 9);
            ask.put((byte) 'R').putInt(authCode == 5 ? 12 : 8).putInt(authCode);
            if (authCode == 5) {
                ask.put(new byte[]{1, 2, 3, 4});
            }
            out.write(ask.array());
            out.flush();
            try {
                while (true) {
                    int type = in.read();
                    if (type < 0) {
                        return;
                    }
                    if (type == 'p') {
                        passwordMessages.incrementAndGet();
                    }
                    int length = in.readInt();
                    record(in.readNBytes(length - 4));
                }
            } catch (SocketTimeoutException e) {
                // the client waits for something this listener will not send
            }
        }

        private synchronized void record(byte[] bytes) {
            received.writeBytes(bytes);
        }

        synchronized byte[] received() {
            return received.toByteArray();
        }

        @Override
        public void close() throws IOException {
            socket.close();
            try {
                acceptor.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
