package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Map;

/** tidemark backup: take base backups and dumps, list and show them, restore a dump (downloads: {@link BackupDownload}). */
@Command(name = "backup", description = "Backups: base (physical), dump (logical), list, show, download, restore-dump.",
        subcommands = {BackupCommand.Create.class, BackupCommand.Dump.class, BackupCommand.ListAll.class, BackupCommand.ShowAny.class,
                BackupDownload.class, BackupCommand.RestoreDump.class})
public final class BackupCommand {
    static final String[] BACKUP_HEADERS = {"ID", "STATUS", "QUEUE", "TRIGGER", "REQUESTED", "CONSISTENT AT", "BYTES", "STORED", "FAILURE"};
    static final String[] BACKUP_FIELDS = {"/id", "/status", "/queuePosition", "/trigger", "/requestedAt", "/consistencyTime", "/bytes", "/storedBytes", "/failure"};
    static final String[] DUMP_HEADERS = {"ID", "STATUS", "QUEUE", "TRIGGER", "REQUESTED", "DATABASES", "BYTES", "FAILURE"};
    static final String[] DUMP_FIELDS = {"/id", "/status", "/queuePosition", "/trigger", "/requestedAt", "/databases", "/bytes", "/failure"};
    /**
     * For the tables: a dump of all databases lists them once it completed, and says "all" before (its list is empty
     * until then). The JSON output keeps the API's document as it is.
     */
    static JsonNode allDatabasesNamed(JsonNode dump) {
        if (dump.path("databases").isArray() && dump.path("databases").isEmpty()
                && dump instanceof com.fasterxml.jackson.databind.node.ObjectNode o) {
            com.fasterxml.jackson.databind.node.ObjectNode copy = o.deepCopy();
            copy.put("databases", "all");
            return copy;
        }
        return dump;
    }

    @Command(name = "list", description = "List a database's base backups and dumps.")
    static final class ListAll extends ClientCommand {
        @Parameters(index = "0", description = "database id")
        String db;

        @Override
        public Integer call() {
            JsonNode bases = api().get("/v1/databases/" + enc(db) + "/base-backups");
            JsonNode dumps = api().get("/v1/databases/" + enc(db) + "/dumps");
            com.fasterxml.jackson.databind.node.ObjectNode both = ApiClient.JSON.createObjectNode();
            both.set("baseBackups", bases);
            both.set("dumps", dumps);
            options().print(out(), both, () -> {
                out().println("Base backups");
                Table.print(out(), bases, BACKUP_HEADERS, BACKUP_FIELDS);
                out().println();
                out().println("Dumps");
                com.fasterxml.jackson.databind.node.ArrayNode shown = ApiClient.JSON.createArrayNode();
                dumps.forEach(d -> shown.add(allDatabasesNamed(d)));
                Table.print(out(), shown, DUMP_HEADERS, DUMP_FIELDS);
            });
            return 0;
        }
    }

    @Command(name = "show", description = "Show one base backup (base-...) or dump (dump-...), with progress while it runs.")
    static final class ShowAny extends ClientCommand {
        @Parameters(index = "0", description = "database id")
        String db;
        @Parameters(index = "1", description = "backup or dump id")
        String id;

        @Override
        public Integer call() {
            if (id.startsWith("dump-")) {
                JsonNode d = api().get("/v1/databases/" + enc(db) + "/dumps/" + enc(id));
                options().print(out(), d, () -> Table.details(out(), allDatabasesNamed(d), new String[]{"id", "status", "queue position", "trigger", "requested",
                        "ended", "databases", "bytes", "stored", "failure"}, new String[]{"/id", "/status", "/queuePosition", "/trigger", "/requestedAt", "/completedAt",
                        "/databases", "/bytes", "/storedBytes", "/failure"}));
                return 0;
            }
            return new Show().show(this, db, id);
        }
    }

    @Command(name = "base", description = "Take a base backup now.")
    static final class Create extends ClientCommand {
        @Parameters(index = "0", description = "database id")
        String db;
        @Option(names = "--wait", description = "wait for it, with progress")
        boolean wait;

        @Override
        public Integer call() throws InterruptedException {
            JsonNode b = api().post("/v1/databases/" + enc(db) + "/base-backups", null);
            String id = b.path("id").asText();
            if (!wait) {
                options().print(out(), b, () -> out().println("base backup " + id + " requested; follow it with: tidemark backup show "
                        + db + " " + id));
                return 0;
            }
            JsonNode done = Progress.await(seconds -> api().get("/v1/databases/" + enc(db) + "/base-backups/" + enc(id)
                    + "?waitSeconds=" + seconds), "base backup", progressOut());
            options().print(out(), done, () -> Table.details(out(), done, new String[]{"id", "status", "consistent at", "bytes", "stored",
                    "bad pages", "failure"}, new String[]{"/id", "/status", "/consistencyTime", "/bytes", "/storedBytes", "/badPages",
                    "/failure"}));
            return ended("base backup", done);
        }
    }

    @Command(name = "show", description = "Show one base backup, with progress while it runs.")
    static final class Show extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String db;
        @Parameters(index = "1", description = "base backup id (base-...)")
        String id;

        @Override
        public Integer call() {
            return show(this, db, id);
        }

        Integer show(ClientCommand c, String db, String id) {
            JsonNode b = c.api().get("/v1/databases/" + enc(db) + "/base-backups/" + enc(id));
            c.options().print(c.out(), b, () -> Table.details(c.out(), b, new String[]{"id", "status", "queue position", "trigger", "requested",
                    "started", "ended", "consistent at", "start LSN", "stop LSN", "timeline", "bytes", "stored", "bad pages", "phase",
                    "percent", "failure"}, new String[]{"/id", "/status", "/queuePosition", "/trigger", "/requestedAt", "/startedAt",
                    "/completedAt", "/consistencyTime", "/startLsn", "/stopLsn", "/timeline", "/bytes", "/storedBytes", "/badPages", "/progress/phase",
                    "/progress/percent", "/failure"}));
            return 0;
        }
    }

    @Command(name = "dump", description = "Take a logical dump (pg_dump -Fc) now.")
    static final class Dump extends ClientCommand {
        @Parameters(index = "0", description = "database id")
        String db;
        @Option(names = "--database", description = "database of the cluster to dump (repeatable; default: all)")
        List<String> databases;
        @Option(names = "--wait")
        boolean wait;

        @Override
        public Integer call() throws InterruptedException {
            JsonNode d = api().post("/v1/databases/" + enc(db) + "/dumps", Map.of("databases", databases == null ? List.of() : databases));
            String id = d.path("id").asText();
            if (!wait) {
                options().print(out(), d, () -> out().println("dump " + id + " requested; follow it with: tidemark backup show " + db + " " + id));
                return 0;
            }
            JsonNode done = Progress.await(seconds -> api().get("/v1/databases/" + enc(db) + "/dumps/" + enc(id)
                    + "?waitSeconds=" + seconds), "dump", progressOut());
            options().print(out(), done, () -> Table.details(out(), done, new String[]{"id", "status", "databases", "bytes", "failure"},
                    new String[]{"/id", "/status", "/databases", "/bytes", "/failure"}));
            return ended("dump", done);
        }
    }

    @Command(name = "restore-dump", description = "Restore one database of a dump into an existing database with pg_restore --clean.")
    static final class RestoreDump extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String db;
        @Parameters(index = "1", description = "dump id (dump-...)")
        String id;
        @Option(names = "--database", required = true, description = "the database of the dump to restore")
        String database;
        @Option(names = "--into", required = true, description = "the existing database to restore into (empty, unless --replace)")
        String target;
        @Option(names = "--replace", description = "restore into a database that holds tables: the dump's objects and their data "
                + "replace the ones of the same names")
        boolean replace;
        @Option(names = "--wait")
        boolean wait;

        @Override
        public Integer call() throws InterruptedException {
            JsonNode r = api().post("/v1/databases/" + enc(db) + "/dumps/" + enc(id) + "/restore",
                    Map.of("database", database, "targetDatabase", target, "replace", replace));
            return RestoreCommand.follow(this, db, r, wait);
        }
    }
}
