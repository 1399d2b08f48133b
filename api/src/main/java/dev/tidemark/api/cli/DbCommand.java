package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;

/** tidemark db: protect a database, list and show them, change their policy or connection, stop protecting one. */
@Command(name = "db", description = "Protected databases: add, list, status, policy, remove.",
        subcommands = {DbCommand.Register.class, DbCommand.ListDbs.class, DbCommand.Show.class, DbCommand.Policy.class,
                DbCommand.Connection.class, DbCommand.Deregister.class})
public final class DbCommand {
    @Command(name = "add", aliases = "register", description = "Protect a PostgreSQL cluster: WAL streaming starts, the first base backup follows.")
    static final class Register extends ClientCommand {
        @Parameters(index = "0", description = "database id: lower-case letters, digits, '-'")
        String id;
        @Option(names = "--pg-url", required = true, description = "postgresql://USER@HOST:PORT/DB of the primary (no password)")
        String pgUrl;
        @Option(names = "--pgdata", required = true, description = "data directory base backups read (absolute)")
        String pgdata;
        @Option(names = "--standby-url", description = "standby to take base backups and dumps from")
        String standbyUrl;
        @Option(names = "--window", description = "recovery window: 7d, 36h or ISO-8601 (P7D); default 7d")
        String window;

        @Override
        public Integer call() {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("id", id);
            body.put("pgUrl", pgUrl);
            body.put("pgdata", absolute(pgdata));
            body.put("standbyUrl", standbyUrl);
            body.put("window", duration(spec, window));
            JsonNode view = api().post("/v1/databases", body);
            options().print(out(), view, () -> {
                out().println("registered " + view.path("id").asText()
                        + ": WAL streaming started; the window opens with its first base backup (taken within a minute where the"
                        + " scheduler runs, or now: tidemark backup base " + view.path("id").asText() + " --wait)");
                if (!view.path("configuration").asText().isEmpty()) {
                    out().println("configuration: " + view.path("configuration").asText());
                }
            });
            return 0;
        }
    }

    @Command(name = "list", description = "List protected databases with their recovery windows (all, or a page with --limit).")
    static final class ListDbs extends ClientCommand {
        @Option(names = "--limit", description = "at most this many, ordered by id (1-1000)")
        Integer limit;
        @Option(names = "--after", description = "those after this id (the last of the previous page)")
        String after;

        @Override
        public Integer call() {
            String query = limit == null && after == null ? "" : "?limit=" + (limit == null ? 100 : limit)
                    + (after == null ? "" : "&after=" + enc(after));
            JsonNode list = api().get("/v1/databases" + query);
            options().print(out(), list, () -> {
                Table.print(out(), list,
                        new String[]{"ID", "STATUS", "WINDOW START", "WINDOW END", "STREAM", "LAST BASE BACKUP"},
                        new String[]{"/id", "/status", "/window/start", "/window/end", "/streaming/state", "/lastBaseBackup/completedAt"});
                if (!query.isEmpty() && list.size() == (limit == null ? 100 : limit)) {
                    out().println("more: tidemark db list --limit " + list.size() + " --after " + list.get(list.size() - 1).path("id").asText());
                }
            });
            return 0;
        }
    }

    @Command(name = "status", aliases = "show", description = "Show a database: status, window, streaming, last backups, server stats.")
    static final class Show extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String id;

        @Override
        public Integer call() {
            JsonNode d = api().get("/v1/databases/" + enc(id));
            options().print(out(), d, () -> Table.details(out(), d,
                    new String[]{"id", "status", "primary", "pgdata", "standby", "window", "window start", "window end", "window note",
                            "streaming", "timeline", "durable LSN", "durable time", "lag bytes", "lag seconds", "WAL kept by slot", "last base backup",
                            "last dump", "server version", "connections", "max connections", "logical size", "size on disk",
                            "configuration", "base backup schedule", "dump schedule", "synchronous", "application name", "server waits (sync_state)"},
                    new String[]{"/id", "/status", "/pgUrl", "/pgdata", "/standbyUrl", "/policy/window", "/window/start", "/window/end",
                            "/window/note", "/streaming/state", "/streaming/timeline", "/streaming/durableLsn", "/streaming/durableTime", "/streaming/lagBytes",
                            "/streaming/lagSeconds", "/streaming/retainedBytes", "/lastBaseBackup/completedAt", "/lastDump/completedAt",
                            "/stats/serverVersion", "/stats/openConnections", "/stats/maxConnections", "/stats/logicalBytes",
                            "/stats/diskBytes", "/configuration", "/policy/baseBackupSchedule", "/policy/dumpSchedule", "/policy/synchronous",
                            "/streaming/applicationName", "/streaming/synchronousState"}));
            return 0;
        }
    }

    @Command(name = "policy", description = "Change a database's policy (window, schedules in UTC, dump retention).")
    static final class Policy extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String id;
        @Option(names = "--window", description = "e.g. 14d or P14D")
        String window;
        @Option(names = "--base-backup-schedule", description = "one weekly slot in UTC, e.g. 'SUN 03:00' (a base backup asked for"
                + " after the slot, by anyone, counts for it unless it failed)")
        String baseBackupSchedule;
        @Option(names = "--dump-schedule", description = "one daily slot in UTC, e.g. '01:00'")
        String dumpSchedule;
        @Option(names = "--daily-dumps", description = "scheduled dumps kept, one a day, for this many days (1-1000)")
        Integer daily;
        @Option(names = "--weekly-dumps", description = "Sunday dumps kept for this many weeks (1-1000)")
        Integer weekly;
        @Option(names = "--monthly-dumps", description = "first-Sunday-of-the-month dumps kept for this many months (1-1000)")
        Integer monthly;
        @Option(names = "--manual-dumps", description = "the newest dumps asked for by hand kept (1-1000)")
        Integer manual;
        @Option(names = "--synchronous", paramLabel = "on|off", description = "on: the server acknowledges a commit only once its WAL"
                + " is in the repository (list the stream's application name, shown by 'db status', in synchronous_standby_names;"
                + " see docs/operations.md); off (the default): WAL streamed asynchronously")
        String synchronous;

        @Override
        public Integer call() {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("window", duration(spec, window));
            body.put("baseBackupSchedule", baseBackupSchedule);
            body.put("dumpSchedule", dumpSchedule);
            body.put("dailyDumps", daily);
            body.put("weeklyDumps", weekly);
            body.put("monthlyDumps", monthly);
            body.put("manualDumps", manual);
            body.put("synchronous", onOff(spec, "--synchronous", synchronous));
            JsonNode d = api().patch("/v1/databases/" + enc(id) + "/policy", body);
            options().print(out(), d, () -> Table.details(out(), d.path("policy"),
                    new String[]{"window", "base backup schedule", "dump schedule", "daily dumps", "weekly dumps", "monthly dumps",
                            "manual dumps", "synchronous"},
                    new String[]{"/window", "/baseBackupSchedule", "/dumpSchedule", "/dailyDumps", "/weeklyDumps", "/monthlyDumps",
                            "/manualDumps", "/synchronous"}));
            return 0;
        }
    }

    @Command(name = "connection", description = "Change where a database is reached: after a failover (the promoted standby is the"
            + " primary now), a move, or a standby added or removed. The WAL stream restarts on the new primary.")
    static final class Connection extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String id;
        @Option(names = "--pg-url", description = "postgresql://USER@HOST:PORT/DB of the primary (no password)")
        String pgUrl;
        @Option(names = "--pgdata", description = "data directory base backups read (absolute; the standby's when there is one)")
        String pgdata;
        @Option(names = "--standby-url", description = "standby to take base backups and dumps from")
        String standbyUrl;
        @Option(names = "--no-standby", description = "take base backups and dumps from the primary from now on")
        boolean noStandby;

        @Override
        public Integer call() {
            if (noStandby && standbyUrl != null) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "give --standby-url or --no-standby, not both");
            }
            if (pgUrl == null && pgdata == null && standbyUrl == null && !noStandby) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "nothing to change: give --pg-url, --pgdata, --standby-url or --no-standby");
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("pgUrl", pgUrl);
            body.put("pgdata", absolute(pgdata));
            body.put("standbyUrl", noStandby ? "" : standbyUrl);
            JsonNode d = api().patch("/v1/databases/" + enc(id), body);
            options().print(out(), d, () -> Table.details(out(), d, new String[]{"id", "primary", "pgdata", "standby", "streaming"},
                    new String[]{"/id", "/pgUrl", "/pgdata", "/standbyUrl", "/streaming/state"}));
            return 0;
        }
    }

    @Command(name = "remove", aliases = "deregister", description = "Stop protecting a database; backups stay until retention removes them unless --purge.")
    static final class Deregister extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String id;
        @Option(names = "--purge", description = "also delete every backup, dump and WAL object of it")
        boolean purge;

        @Override
        public Integer call() {
            api().delete("/v1/databases/" + enc(id) + (purge ? "?purge=true" : ""));
            out().println("deregistered " + id + (purge ? "; its objects are being deleted" : "; its backups are kept"));
            return 0;
        }
    }
}
