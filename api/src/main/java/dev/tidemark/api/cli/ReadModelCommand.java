package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;

/** tidemark read-model: rebuild the read model from the events. */
@Command(name = "read-model", description = "The read model (the rows the API lists).", subcommands = ReadModelCommand.Rebuild.class)
public final class ReadModelCommand {
    @Command(name = "rebuild", description = "Rebuild the read model from the events (admin token); safe at any time.")
    static final class Rebuild extends ClientCommand {
        @Override
        public Integer call() {
            JsonNode r = api().post("/v1/read-model/rebuild", null);
            options().print(out(), r, () -> out().println(r.path("current").asBoolean()
                    ? "read model rebuilt: " + r.path("databases").asInt() + " databases in " + r.path("millis").asLong() + " ms"
                    : "read model still catching up after " + r.path("millis").asLong() + " ms; lists answer from memory meanwhile"));
            return 0;
        }
    }
}
