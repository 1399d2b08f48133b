package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;

/** tidemark restore: restore a database to a time or the latest moment; follow, list and cancel restores. */
@Command(name = "restore", description = "Restore a database to a time (or the latest moment), beside it or in place; "
        + "'restore status' and 'restore list' follow restores.",
        subcommands = {RestoreCommand.Status.class, RestoreCommand.ListRestores.class, RestoreCommand.Cancel.class})
public final class RestoreCommand extends ClientCommand {
    static final String[] RESTORE_HEADERS = {"ID", "STATUS", "QUEUE", "TARGET", "DIRECTORY", "PORT", "REACHED", "FAILURE"};
    static final String[] RESTORE_FIELDS = {"/id", "/status", "/queuePosition", "/target", "/targetDir", "/port", "/reachedTime", "/failure"};

    @Parameters(index = "0", arity = "0..1", description = "database id")
    String db;
    @Option(names = "--time", description = "ISO-8601 time with an offset, e.g. 2026-11-24T10:41:07+01:00")
    String time;
    @Option(names = "--latest", description = "the newest moment whose WAL is in the repository")
    boolean latest;
    @Option(names = "--target-dir", description = "new, empty data directory")
    String targetDir;
    @Option(names = "--port", description = "port of the restored server")
    Integer port;
    @Option(names = "--in-place", description = "into the database's own (stopped) directory; the old one is moved aside")
    boolean inPlace;
    @Option(names = "--leave-stopped", description = "with --in-place: once recovered, stop the server for its service manager to "
            + "start (default: restarted the way it is normally started, pg_ctlcluster for a Debian cluster)")
    boolean leaveStopped;
    @Option(names = "--delta", description = "with --in-place: restore the directory where it is, without keeping a copy; files with "
            + "the backup's size and time are left untouched, only what differs is downloaded. Allowed only when the repository can "
            + "give the directory's current state back (stopped cleanly, its last checkpoint in the repository's WAL)")
    boolean delta;
    @Option(names = "--checksum", description = "with --delta: compare the SHA-256 of files with the backup's size and time too "
            + "(reads every file; a damaged one is rewritten)")
    boolean checksum;
    @Option(names = "--wait", description = "wait for it, with progress")
    boolean waitFor;

    @Override
    public Integer call() throws InterruptedException {
        picocli.CommandLine cl = spec.commandLine();
        if (db == null) {
            throw new picocli.CommandLine.ParameterException(cl, "give the database id: tidemark restore ID (--time ISO-8601 | --latest) "
                    + "(--target-dir DIR --port N | --in-place [--delta [--checksum]]) [--wait]");
        }
        if ((time == null) == !latest) {
            throw new picocli.CommandLine.ParameterException(cl, "give exactly one of --time ISO-8601 and --latest");
        }
        if (inPlace == (targetDir != null || port != null) || (!inPlace && (targetDir == null || port == null))) {
            throw new picocli.CommandLine.ParameterException(cl, "give either --target-dir DIR and --port N, or --in-place");
        }
        if (leaveStopped && !inPlace) {
            throw new picocli.CommandLine.ParameterException(cl, "--leave-stopped goes with --in-place: a copy beside is started by the restore");
        }
        if (delta && !inPlace) {
            throw new picocli.CommandLine.ParameterException(cl, "--delta goes with --in-place: a copy beside is written whole");
        }
        if (checksum && !delta) {
            throw new picocli.CommandLine.ParameterException(cl, "--checksum goes with --in-place --delta: the default in-place restore"
                    + " checks every file it keeps by SHA-256 already");
        }
        Map<String, Object> body = new LinkedHashMap<>();
        if (time != null) {
            try {
                body.put("time", OffsetDateTime.parse(time).toString());
            } catch (DateTimeParseException e) {
                throw new picocli.CommandLine.ParameterException(cl, "--time '" + time
                        + "' is not an ISO-8601 time with an offset, e.g. 2026-11-24T10:41:07+01:00 or 2026-11-24T09:41:07Z");
            }
        }
        body.put("latest", latest);
        body.put("inPlace", inPlace);
        if (leaveStopped) {
            body.put("leaveStopped", true);
        }
        if (delta) {
            body.put("delta", true);
        }
        if (checksum) {
            body.put("checksum", true);
        }
        if (!inPlace) {
            body.put("targetDir", absolute(targetDir));
            body.put("port", port);
        }
        JsonNode r = api().post("/v1/databases/" + enc(db) + "/restores", body);
        return follow(this, db, r, waitFor);
    }

    static Integer follow(ClientCommand c, String db, JsonNode r, boolean wait) throws InterruptedException {
        String id = r.path("id").asText();
        if (!wait) {
            c.options().print(c.out(), r, () -> c.out().println("restore " + id + " requested; follow it with: tidemark restore status "
                    + db + " " + id));
            return 0;
        }
        JsonNode done = Progress.await(seconds -> c.api().get("/v1/databases/" + enc(db) + "/restores/" + enc(id)
                + "?waitSeconds=" + seconds), "restore", c.progressOut());
        c.options().print(c.out(), done, () -> Table.details(c.out(), done, new String[]{"id", "status", "target", "directory", "port",
                "reached", "result", "failure"}, new String[]{"/id", "/status", "/target", "/targetDir", "/port", "/reachedTime",
                "/message", "/failure"}));
        return c.ended("restore", done);
    }

    @Command(name = "list", description = "List a database's restores.")
    static final class ListRestores extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String db;

        @Override
        public Integer call() {
            JsonNode list = api().get("/v1/databases/" + enc(db) + "/restores");
            options().print(out(), list, () -> Table.print(out(), list, RESTORE_HEADERS, RESTORE_FIELDS));
            return 0;
        }
    }

    @Command(name = "cancel", description = "Cancel a restore that is requested or running: it stops at its next step and "
            + "undoes what it did (the copy removed; in place, the old data directory put back).")
    static final class Cancel extends ClientCommand {
        @Parameters(index = "0", description = "database id")
        String db;
        @Parameters(index = "1", description = "restore id")
        String id;

        @Override
        public Integer call() {
            JsonNode r = api().post("/v1/databases/" + enc(db) + "/restores/" + enc(id) + "/cancel", Map.of());
            options().print(out(), r, () -> out().println("cancelling restore " + r.path("id").asText() + " of " + db
                    + ": it stops at its next step; follow it with: tidemark restore status " + db + " " + r.path("id").asText()));
            return 0;
        }
    }

    @Command(name = "status", aliases = "show", description = "Show one restore, with progress while it runs.")
    static final class Status extends ClientCommand {
        @Parameters(index = "0", description = "database id (tidemark db list)")
        String db;
        @Parameters(index = "1", description = "restore id")
        String id;

        @Override
        public Integer call() {
            JsonNode r = api().get("/v1/databases/" + enc(db) + "/restores/" + enc(id));
            options().print(out(), r, () -> Table.details(out(), r, new String[]{"id", "status", "queue position", "target", "backup", "directory",
                    "port", "in place", "requested", "ended", "reached", "result", "phase", "percent", "failure"}, new String[]{"/id",
                    "/status", "/queuePosition", "/target", "/backupId", "/targetDir", "/port", "/inPlace", "/requestedAt", "/completedAt", "/reachedTime",
                    "/message", "/progress/phase", "/progress/percent", "/failure"}));
            return 0;
        }
    }
}
