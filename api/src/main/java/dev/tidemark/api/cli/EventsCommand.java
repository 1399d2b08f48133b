package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** tidemark events: a database's event history, once or followed. */
@Command(name = "events", description = "A database's event history (the audit log).")
public final class EventsCommand extends ClientCommand {
    @Parameters(index = "0", description = "database id (tidemark db list)")
    String db;
    @Option(names = "--from", defaultValue = "0")
    long from;
    @Option(names = "--limit", defaultValue = "100")
    int limit;
    @Option(names = "--follow", description = "keep printing new events as they happen (Ctrl-C to stop)")
    boolean follow;

    @Override
    public Integer call() throws InterruptedException {
        JsonNode first = api().get("/v1/databases/" + enc(db) + "/events?from=" + from + "&limit=" + limit);
        if (!follow) {
            options().print(out(), first, () -> {
                Table.print(out(), first.path("events"), new String[]{"SEQ", "TIME", "TYPE", "ACTOR"},
                        new String[]{"/sequence", "/time", "/type", "/actor"});
                if (first.path("next").asLong() >= 0) {
                    out().println("more: tidemark events " + db + " --from " + first.path("next").asLong());
                }
            });
            return 0;
        }
        JsonNode page = first;
        long next = from;
        while (true) {
            for (JsonNode e : page.path("events")) {
                out().println(options().json ? e.toString() : String.format("%6d  %s  %-22s %s", e.path("sequence").asLong(),
                        e.path("time").asText(), e.path("type").asText(), e.path("actor").asText()));
                next = e.path("sequence").asLong() + 1;
            }
            if (page.path("next").asLong() < 0) {
                Thread.sleep(2000);
            }
            page = api().get("/v1/databases/" + enc(db) + "/events?from=" + next + "&limit=" + limit);
        }
    }
}
