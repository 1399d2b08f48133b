package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** tidemark node list | drain NODE: the engine nodes sharing the catalog (issue 20). */
@Command(name = "node", description = "The engine nodes sharing the catalog.", subcommands = {NodeCommand.ListNodes.class, NodeCommand.Drain.class})
public final class NodeCommand {

    @Command(name = "list", description = "Nodes, heartbeat age, live or not, draining, databases owned.")
    static final class ListNodes extends ClientCommand {
        @Override
        public Integer call() {
            JsonNode r = api().get("/v1/nodes");
            options().print(out(), r, () -> {
                ArrayNode rows = JsonNodeFactory.instance.arrayNode();
                for (JsonNode n : r) {
                    List<String> dbs = new ArrayList<>();
                    n.path("databases").forEach(d -> dbs.add(d.asText()));
                    ObjectNode row = rows.addObject();
                    row.put("id", n.path("id").asText());
                    row.put("age", String.format("%.1f s ago", n.path("heartbeatAgeSeconds").asDouble()));
                    row.put("state", (n.path("live").asBoolean() ? "live" : "gone") + (n.path("draining").asBoolean() ? ", draining" : ""));
                    row.put("count", dbs.size());
                    row.put("databases", String.join(",", dbs));
                }
                Table.print(out(), rows, new String[]{"NODE", "HEARTBEAT", "STATE", "DBS", "DATABASES"},
                        new String[]{"/id", "/age", "/state", "/count", "/databases"});
            });
            return 0;
        }
    }

    @Command(name = "drain", description = "Move the node's databases to the live nodes before maintenance; it then takes none"
            + " (admin token). --undo lets it take its share again.")
    static final class Drain extends ClientCommand {
        @Parameters(index = "0", description = "the node id (tidemark.node-id)")
        String node;

        @Option(names = "--undo", description = "end the drain")
        boolean undo;

        @Override
        public Integer call() {
            JsonNode r = api().post("/v1/nodes/" + URLEncoder.encode(node, StandardCharsets.UTF_8).replace("+", "%20") + "/drain"
                    + (undo ? "?undo=true" : ""), null);
            options().print(out(), r, () -> out().println(undo ? "node " + node + " takes databases again"
                    : "node " + node + " is draining: its databases move within a few seconds (tidemark node list)"));
            return 0;
        }
    }
}
