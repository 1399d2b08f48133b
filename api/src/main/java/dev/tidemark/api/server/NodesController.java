package dev.tidemark.api.server;

import dev.tidemark.engine.operations.NodeView;
import dev.tidemark.engine.operations.Operations;
import jakarta.servlet.http.HttpServletRequest;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

import java.util.List;

/**
 * The engine nodes sharing the catalog (issue 20): listed to any token (an operator token sees its own databases only),
 * drained by admin tokens only (the path names no database, so a change needs the admin scope).
 */
@RestController
@RequestMapping("/v1/nodes")
public class NodesController {
    private final Operations engine;

    public NodesController(Operations engine) {
        this.engine = engine;
    }

    /** An operator token sees only its own databases among each node's (not even the others' ids: docs/security.md). */
    @GetMapping
    public List<NodeView> list(HttpServletRequest request) {
        List<NodeView> nodes = engine.nodes();
        if (!(request.getAttribute(AuthFilter.TOKEN) instanceof Tokens.Token t) || !"operator".equals(t.scope())) {
            return nodes;
        }
        return nodes.stream().map(n -> new NodeView(n.id(), n.heartbeat(), n.heartbeatAgeSeconds(), n.live(), n.draining(),
                n.databases().stream().filter(t::mayRead).toList())).toList();
    }

    /** Moves the node's databases to the live nodes and keeps it from taking any (undo=true: it takes its share again). */
    @PostMapping("/{node}/drain")
    public NodeView drain(@PathVariable("node") String node, @RequestParam(name = "undo", defaultValue = "false") boolean undo,
                          HttpServletRequest request) {
        Object actor = request.getAttribute(AuthFilter.ACTOR);
        return engine.drainNode(node, !undo, actor == null ? "anonymous" : actor.toString());
    }
}
