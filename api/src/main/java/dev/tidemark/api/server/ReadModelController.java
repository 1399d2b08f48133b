package dev.tidemark.api.server;

import dev.tidemark.engine.operations.Operations;
import dev.tidemark.engine.operations.ReadModelView;
import jakarta.servlet.http.HttpServletRequest;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** Maintenance of the read model (admin tokens only: the path names no database). */
@RestController
@RequestMapping("/v1/read-model")
public class ReadModelController {
    private final Operations engine;

    public ReadModelController(Operations engine) {
        this.engine = engine;
    }

    /** Rebuilds the rows the API lists from the events; answers when they are current again. */
    @PostMapping("/rebuild")
    public ReadModelView rebuild(HttpServletRequest request) {
        Object actor = request.getAttribute(AuthFilter.ACTOR);
        return engine.rebuildReadModel(actor == null ? "anonymous" : actor.toString());
    }
}
