package dev.tidemark.api.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.springframework.web.filter.OncePerRequestFilter;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The gate of every request: the Host header must name this server, the path must be plain ({@link RequestPath}),
 * and everything but the health probes and the API description needs a bearer token whose scope allows the request.
 * Deny by default: a path this filter does not know as public needs a token, whatever the router makes of it; the web
 * console's page ("/") and its static files ("/console/NAME.js|css|svg") are public too, served with a Content-Security-Policy
 * that lets the page run its own scripts and call this server only (the page asks for a token itself). The
 * body is read here, bounded in size and time, for every transfer encoding. The token's name becomes the actor of
 * every command the request sends (request attribute {@value #ACTOR}); {@link ScopeInterceptor} checks the scope
 * again against the database id the routed handler actually serves.
 */
public final class AuthFilter extends OncePerRequestFilter {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AuthFilter.class);
    public static final String ACTOR = "tidemark.actor";
    /** The request's token (its scope decides what lists show). */
    static final String TOKEN = "tidemark.token";
    static final long MAX_BODY = 64 * 1024;
    private static final long BODY_DEADLINE_MILLIS = 30_000;
    private static final Set<String> PUBLIC = Set.of("/v1/openapi", "/v1/openapi.yaml", "/actuator/health",
            "/actuator/health/liveness", "/actuator/health/readiness");
    /** The console's files: its page at "/" and flat static files under /console/, never anything of /v1. */
    private static final java.util.regex.Pattern CONSOLE = java.util.regex.Pattern.compile("/|/console/[a-z0-9-]+\\.(js|css|svg)");
    /** Scripts, styles and images of this origin only, no inline script or style, no framing, calls to this server only. */
    static final String CONSOLE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            + "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
    private final Tokens tokens;
    private final AllowedHosts hosts;
    private final ObjectMapper json;

    AuthFilter(Tokens tokens, AllowedHosts hosts, ObjectMapper json) {
        this.tokens = tokens;
        this.hosts = hosts;
        this.json = json;
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        response.setHeader("Cache-Control", "no-store");
        response.setHeader("X-Content-Type-Options", "nosniff");
        if (!hosts.allows(request.getHeader("Host"))) {
            deny(response, 421, "Misdirected request", "this server does not answer to the host name in the request;"
                    + " call it by a name it listens on, or add the name to tidemark.allowed-hosts");
            return;
        }
        RequestPath path;
        try {
            path = RequestPath.of(request.getRequestURI());
        } catch (IllegalArgumentException e) {
            deny(response, 400, "Bad request", e.getMessage());
            return;
        }
        boolean reading = "GET".equals(request.getMethod()) || "HEAD".equals(request.getMethod());
        if (reading && CONSOLE.matcher(path.path()).matches()) {
            response.setHeader("Content-Security-Policy", CONSOLE_POLICY);
            response.setHeader("Referrer-Policy", "no-referrer");
            chain.doFilter(request, response);
            return;
        }
        if (reading && PUBLIC.contains(path.path())) {
            chain.doFilter(request, response);
            return;
        }
        if (request.getContentLengthLong() > MAX_BODY) {
            deny(response, 413, "Payload too large", "request bodies of this API are at most " + MAX_BODY + " bytes");
            return;
        }
        String header = request.getHeader("Authorization");
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            deny(response, 401, "Unauthorized", "this endpoint needs a bearer token: send 'Authorization: Bearer TOKEN' "
                    + "(the CLI reads TIDEMARK_TOKEN or the admin token file in the data directory)");
            return;
        }
        Optional<Tokens.Token> token = tokens.find(header.substring(7).trim());
        if (token.isEmpty()) {
            deny(response, 401, "Unauthorized", "the bearer token is not known to this server");
            return;
        }
        if (path.path().equals("/error")) {
            // Spring's own error page, reached directly: not an endpoint of this API (it answered 500 with status 999)
            deny(response, 404, "Not found", "no endpoint answers " + request.getMethod() + " /error: the API's endpoints are listed"
                    + " at /v1/openapi");
            return;
        }
        if ("operator".equals(token.get().scope()) && path.path().startsWith("/actuator/")) {
            // the metrics are labelled by database, every database's: an operator token is for its own alone
            deny(response, 403, "Forbidden", "token '" + token.get().name() + "' (scope operator) may not read " + path.path()
                    + ": it covers every database of the server; scrape it with a read or admin token");
            return;
        }
        String refusal = refusal(token.get(), request.getMethod(), path.databaseId());
        if (refusal != null) {
            deny(response, 403, "Forbidden", refusal);
            return;
        }
        HttpServletRequest bounded = request;
        if (request.getContentLengthLong() > 0 || request.getHeader("Transfer-Encoding") != null) {
            try {
                bounded = BoundedBody.read(request, MAX_BODY, BODY_DEADLINE_MILLIS);
            } catch (BoundedBody.Refused e) {
                response.setHeader("Connection", "close"); // the rest of the body is not read
                deny(response, e.status, e.status == 413 ? "Payload too large" : "Request timeout", e.getMessage());
                return;
            } catch (IOException e) {
                // a malformed chunked body or a client gone mid-body: its mistake, one line, no trace
                LOG.warn("{} {}: the request body could not be read ({})", request.getMethod(), path.path(), e.getMessage());
                response.setHeader("Connection", "close");
                deny(response, 400, "Bad request", "the request body could not be read: " + e.getMessage());
                return;
            }
        }
        bounded.setAttribute(ACTOR, token.get().name());
        bounded.setAttribute(TOKEN, token.get());
        chain.doFilter(bounded, response);
    }

    /** Null when the token may send this request about this database (null: none named); otherwise why not. */
    static String refusal(Tokens.Token t, String method, String databaseId) {
        boolean reading = "GET".equals(method) || "HEAD".equals(method);
        boolean allowed = reading ? t.mayRead(databaseId) : t.mayChange(databaseId);
        return allowed ? null : "token '" + t.name() + "' (scope " + t.scope() + ") may not "
                + (reading ? "read" : "change") + (databaseId == null ? " this" : " database " + databaseId);
    }

    private void deny(HttpServletResponse response, int status, String title, String detail) throws IOException {
        response.setStatus(status);
        response.setContentType("application/problem+json");
        if (status == 401) {
            response.setHeader("WWW-Authenticate", "Bearer");
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("type", "about:blank");
        body.put("title", title);
        body.put("status", status);
        body.put("detail", detail);
        json.writeValue(response.getOutputStream(), body);
    }
}
