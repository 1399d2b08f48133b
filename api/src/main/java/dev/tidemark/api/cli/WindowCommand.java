package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** tidemark window: a database's recovery window. */
@Command(name = "window", description = "Show a database's recovery window: every second in it can be restored.")
public final class WindowCommand extends ClientCommand {
    @Parameters(index = "0", description = "database id (tidemark db list)")
    String db;

    @Override
    public Integer call() {
        JsonNode w = api().get("/v1/databases/" + enc(db) + "/window");
        options().print(out(), w, () -> {
            out().println(w.path("start").isMissingNode() || w.path("start").isNull()
                    ? "empty: " + w.path("note").asText() : "[" + w.path("start").asText() + ", " + w.path("end").asText() + "]");
            for (JsonNode g : w.path("excluded")) {
                out().println("  except (" + g.path("after").asText() + ", " + g.path("before").asText()
                        + "): rolled back by in-place restore " + g.path("restoreId").asText());
            }
        });
        return 0;
    }
}
