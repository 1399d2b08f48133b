package dev.tidemark.api.server;

import dev.tidemark.engine.operations.ConflictException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.springframework.web.servlet.HandlerInterceptor;

import java.util.Optional;
import java.util.function.Supplier;

/**
 * An engine whose repository the engines of another catalog took over answers no request of the API (409 with why): its
 * catalog is older than the repository, so what it would list is stale and what it would record is refused anyway.
 */
final class TakenOverRefusal implements HandlerInterceptor {
    private final Supplier<Optional<String>> takenOver;

    TakenOverRefusal(Supplier<Optional<String>> takenOver) {
        this.takenOver = takenOver;
    }

    @Override
    public boolean preHandle(HttpServletRequest request, HttpServletResponse response, Object handler) {
        takenOver.get().ifPresent(why -> {
            throw new ConflictException(why + ": this engine's catalog is no longer the repository's, it answers no request; stop"
                    + " it and ask the engine that writes the repository (docs/recovery-runbook.md, 'The engine's host is lost')");
        });
        return true;
    }
}
