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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Bearer-token authentication and scope checks for /v1 and the metrics endpoint. The token's name becomes the actor
 * of every command the request sends (request attribute {@value #ACTOR}).
 */
public final class AuthFilter extends OncePerRequestFilter {
    public static final String ACTOR = "tidemark.actor";
    /** The request's token (its scope decides what lists show). */
    static final String TOKEN = "tidemark.token";
    private static final long MAX_BODY = 64 * 1024;
    private static final Pattern DATABASE_PATH = Pattern.compile("^/v1/databases/([^/]+)(/.*)?$");
    private final Tokens tokens;
    private final ObjectMapper json;

    public AuthFilter(Tokens tokens, ObjectMapper json) {
        this.tokens = tokens;
        this.json = json;
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        String path = request.getRequestURI();
        return !(path.startsWith("/v1/") && !path.startsWith("/v1/openapi")) && !path.startsWith("/actuator/prometheus");
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
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
        Tokens.Token t = token.get();
        Matcher m = DATABASE_PATH.matcher(request.getRequestURI());
        String databaseId = m.matches() ? m.group(1) : null;
        boolean reading = "GET".equals(request.getMethod()) || "HEAD".equals(request.getMethod());
        boolean allowed = reading ? t.mayRead(databaseId) : t.mayChange(databaseId);
        if (!allowed) {
            deny(response, 403, "Forbidden", "token '" + t.name() + "' (scope " + t.scope() + ") may not "
                    + (reading ? "read" : "change") + (databaseId == null ? " this" : " database " + databaseId));
            return;
        }
        request.setAttribute(ACTOR, t.name());
        request.setAttribute(TOKEN, t);
        chain.doFilter(request, response);
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
