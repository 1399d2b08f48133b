package dev.tidemark.api.server;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.springframework.web.servlet.HandlerInterceptor;
import org.springframework.web.servlet.HandlerMapping;

import java.util.Map;

/**
 * The scope check again, after routing, on the database id the handler will actually serve (its {id} path variable):
 * whatever way a path might reach a handler, a token acts only on the databases its scope allows.
 */
final class ScopeInterceptor implements HandlerInterceptor {

    @Override
    public boolean preHandle(HttpServletRequest request, HttpServletResponse response, Object handler) throws Exception {
        Object variables = request.getAttribute(HandlerMapping.URI_TEMPLATE_VARIABLES_ATTRIBUTE);
        Object databaseId = variables instanceof Map<?, ?> map ? map.get("id") : null;
        Object token = request.getAttribute(AuthFilter.TOKEN);
        if (databaseId == null) {
            return true;
        }
        String refusal = token instanceof Tokens.Token t ? AuthFilter.refusal(t, request.getMethod(), databaseId.toString())
                : "this endpoint needs a bearer token";
        if (refusal == null) {
            return true;
        }
        response.setStatus(token == null ? 401 : 403);
        response.setContentType("application/problem+json");
        response.getWriter().write("{\"type\":\"about:blank\",\"title\":\"" + (token == null ? "Unauthorized" : "Forbidden")
                + "\",\"status\":" + response.getStatus() + ",\"detail\":\"" + refusal.replace("\"", "'") + "\"}");
        return false;
    }
}
