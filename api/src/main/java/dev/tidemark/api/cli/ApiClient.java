package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** The CLI's view of the REST API: JSON in and out, problem+json turned into a readable error. */
public final class ApiClient {
    static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS).disable(SerializationFeature.WRITE_DURATIONS_AS_TIMESTAMPS);

    /** The server refused or failed; the message is the problem's title and detail. */
    public static final class ApiException extends RuntimeException {
        private final int status;
        private final boolean usage;

        ApiException(int status, String message) {
            this(status, message, false);
        }

        private ApiException(int status, String message, boolean usage) {
            super(message);
            this.status = status;
            this.usage = usage;
        }

        /** A request the CLI did not send: the input was wrong (exit 2), and no server answered (no status). */
        static ApiException usage(String message) {
            return new ApiException(0, message, true);
        }

        /** The server's HTTP status; 0 when no server answered. */
        public int status() {
            return status;
        }

        /** Whether the input was rejected (exit 2): by the server (4xx), or before anything was sent. */
        public boolean rejectedInput() {
            return usage || status >= 400 && status < 500;
        }
    }

    /**
     * One HTTP client for the whole process, made on first use: every call of a command (a --wait polls many times) reuses
     * its connection and its selector thread, where a client per call opened a connection and started a thread each time.
     */
    private static final class Shared {
        static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    }

    /**
     * The same for a server reached over plain http (the usual local one): a client made without a TLS context does load
     * the JVM's default one (the trusted certificates parsed, tens of milliseconds of every command), which plain http
     * never uses. Its context trusts no certificate, so it could not make a TLS connection even by mistake.
     */
    private static final class SharedPlain {
        static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).sslContext(noTls()).build();
    }

    /** Whether a shared client was made (reading Shared.HTTP or SharedPlain.HTTP would make it). */
    private static volatile boolean shared;
    private static volatile boolean sharedPlain;

    private static HttpClient sharedClient(String server) {
        if (server.regionMatches(true, 0, "http://", 0, 7)) {
            sharedPlain = true;
            return SharedPlain.HTTP;
        }
        shared = true;
        return Shared.HTTP;
    }

    private static javax.net.ssl.SSLContext noTls() {
        javax.net.ssl.X509TrustManager none = new javax.net.ssl.X509TrustManager() {
            @Override
            public void checkClientTrusted(java.security.cert.X509Certificate[] chain, String authType)
                    throws java.security.cert.CertificateException {
                throw new java.security.cert.CertificateException("plain http: no TLS connection is made");
            }

            @Override
            public void checkServerTrusted(java.security.cert.X509Certificate[] chain, String authType)
                    throws java.security.cert.CertificateException {
                throw new java.security.cert.CertificateException("plain http: no TLS connection is made");
            }

            @Override
            public java.security.cert.X509Certificate[] getAcceptedIssuers() {
                return new java.security.cert.X509Certificate[0];
            }
        };
        try {
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(new javax.net.ssl.KeyManager[0], new javax.net.ssl.TrustManager[]{none}, null);
            return context;
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("cannot set up the HTTP client: " + e.getMessage(), e);
        }
    }

    private final HttpClient http;
    private final String server;
    private final String token;

    /**
     * Where the token came from, when that explains a refusal (the generated admin token file), or with no token why none
     * was found; else null.
     */
    private final String tokenOrigin;

    /**
     * Stops the shared client's selector thread before the CLI exits: the JVM's exit waits up to 300 ms for threads that
     * are inside native code (the selector waits in epoll), which was a third of a second on every CLI command.
     */
    public static void shutdown() {
        if (shared) {
            stop(Shared.HTTP);
        }
        if (sharedPlain) {
            stop(SharedPlain.HTTP);
        }
    }

    private static void stop(HttpClient client) {
        client.shutdownNow();
        try {
            client.awaitTermination(Duration.ofMillis(200));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public ApiClient(String server, String token) {
        this(server, token, null);
    }

    public ApiClient(String server, String token, String tokenOrigin) {
        this.server = server.endsWith("/") ? server.substring(0, server.length() - 1) : server;
        this.http = sharedClient(this.server);
        this.token = token;
        this.tokenOrigin = tokenOrigin;
    }

    public JsonNode get(String path) {
        return send(HttpRequest.newBuilder(uri(path)).GET());
    }

    public JsonNode post(String path, Object body) {
        return send(HttpRequest.newBuilder(uri(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes(body))));
    }

    public JsonNode patch(String path, Object body) {
        return send(HttpRequest.newBuilder(uri(path)).header("Content-Type", "application/json")
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(bytes(body))));
    }

    public JsonNode delete(String path) {
        return send(HttpRequest.newBuilder(uri(path)).DELETE());
    }

    /** A raw GET (downloads), with an optional Range header; the caller reads and closes the body. */
    public HttpResponse<InputStream> stream(String path, String range) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(uri(path)).GET();
        authorize(builder);
        if (range != null) {
            builder.header("Range", range);
        }
        try {
            HttpResponse<InputStream> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofInputStream());
            if (response.statusCode() >= 400) {
                try (InputStream in = response.body()) {
                    throw problem(response.statusCode(), in.readAllBytes());
                }
            }
            return response;
        } catch (IOException e) {
            throw unreachable(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(0, "interrupted");
        }
    }

    private URI uri(String path) {
        try {
            URI uri = URI.create(server + path);
            if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                throw new IllegalArgumentException("not an http(s) URL");
            }
            return uri;
        } catch (IllegalArgumentException e) {
            throw ApiException.usage("invalid server address '" + server + "': use e.g. http://127.0.0.1:8432");
        }
    }

    private static byte[] bytes(Object body) {
        try {
            return body == null ? new byte[0] : JSON.writeValueAsBytes(body);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void authorize(HttpRequest.Builder builder) {
        if (token != null && !token.isBlank()) {
            builder.header("Authorization", "Bearer " + token.trim());
        }
    }

    private JsonNode send(HttpRequest.Builder builder) {
        authorize(builder);
        builder.timeout(Duration.ofMinutes(2));
        try {
            HttpResponse<byte[]> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray());
            if (response.statusCode() >= 400) {
                throw problem(response.statusCode(), response.body());
            }
            byte[] body = response.body();
            return body.length == 0 ? JSON.nullNode() : JSON.readTree(body);
        } catch (IOException e) {
            throw unreachable(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(0, "interrupted");
        }
    }

    private ApiException unreachable(IOException e) {
        if (e instanceof ConnectException || e.getCause() instanceof ConnectException) {
            return new ApiException(0, "cannot reach the tidemark server at " + server + ": is 'tidemark serve' running? (--server URL)");
        }
        return new ApiException(0, "talking to " + server + " failed: " + e.getMessage());
    }

    private ApiException problem(int status, byte[] body) {
        try {
            JsonNode p = JSON.readTree(body);
            String title = p.path("title").asText("HTTP " + status);
            String detail = p.path("detail").asText("");
            String hint = status != 401 || tokenOrigin == null ? ""
                    : token == null ? " (" + tokenOrigin + ": pass --token or set TIDEMARK_TOKEN)"
                    : " (the token came from " + tokenOrigin + ", which the server writes at"
                    + " its first start when no tokens are configured; once tidemark.tokens is set it is not valid: pass --token or set"
                    + " TIDEMARK_TOKEN)";
            return new ApiException(status, title + (detail.isEmpty() ? "" : ": " + detail) + hint);
        } catch (IOException e) {
            return new ApiException(status, "HTTP " + status);
        }
    }
}
