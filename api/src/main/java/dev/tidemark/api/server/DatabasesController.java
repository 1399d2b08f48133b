package dev.tidemark.api.server;

import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.BaseBackupDownload;
import dev.tidemark.engine.operations.ConnectionChange;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.DumpDownload;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.Operations;
import dev.tidemark.engine.operations.PolicyChange;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.Progress;
import dev.tidemark.engine.operations.VerifyReport;
import dev.tidemark.engine.operations.WindowView;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PatchMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.function.Predicate;

/** The REST API: protected databases, their base backups, dumps, restores, recovery window and audit log. */
@RestController
@RequestMapping("/v1/databases")
public class DatabasesController {
    /** The SHA-256 (hex) of a downloaded dump archive's whole content. */
    public static final String SHA256_HEADER = "X-Tidemark-SHA256";
    /** About how many bytes a base backup archive has (files and WAL, without tar headers): for progress only. */
    public static final String EXPECTED_BYTES_HEADER = "X-Tidemark-Expected-Bytes";
    /** On a base backup's archive: the server's configuration was outside its data directory (under tidemark-external-config/). */
    public static final String CONFIGURATION_OUTSIDE_HEADER = "X-Tidemark-Configuration-Outside";
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d{1,18})-(\\d{0,18})");
    private final Operations engine;
    private final com.fasterxml.jackson.databind.ObjectMapper json;

    public DatabasesController(Operations engine, com.fasterxml.jackson.databind.ObjectMapper json) {
        this.engine = engine;
        this.json = json;
    }

    private static String actor(HttpServletRequest request) {
        Object actor = request.getAttribute(AuthFilter.ACTOR);
        return actor == null ? "anonymous" : actor.toString();
    }

    /** The body of a dump request: the databases of the cluster to dump (all when empty). */
    public record DumpRequest(List<String> databases) {
    }

    /** The body of a restore from a dump: which database of the dump, into which existing database. */
    public record DumpRestoreRequest(String database, String targetDatabase, Boolean replace) {
    }

    @PostMapping
    public ResponseEntity<DatabaseView> register(@RequestBody RegisterDatabase body, HttpServletRequest request) {
        DatabaseView view = engine.register(body, actor(request));
        return ResponseEntity.created(URI.create("/v1/databases/" + view.id())).body(view);
    }

    /**
     * The databases the token may read: an operator token sees only the databases named on it. Without limit, all of
     * them; with ?limit=N (and ?after=ID, the last id of the previous page) one page ordered by id, and when it is full a
     * Link header to the next.
     */
    @GetMapping
    public ResponseEntity<List<DatabaseView>> list(@RequestParam(required = false) Integer limit,
                                                   @RequestParam(required = false) String after, HttpServletRequest request) {
        Object token = request.getAttribute(AuthFilter.TOKEN);
        Predicate<String> visible = id -> !(token instanceof Tokens.Token t) || t.mayRead(id);
        if (limit == null && after == null) {
            return ResponseEntity.ok(engine.databases().stream().filter(d -> visible.test(d.id())).toList());
        }
        int size = limit == null ? 100 : limit;
        if (size < 1 || size > 1000) {
            throw new InvalidRequestException("limit must be between 1 and 1000, not " + size);
        }
        List<DatabaseView> page = engine.databases(visible, after, size);
        ResponseEntity.BodyBuilder ok = ResponseEntity.ok();
        if (page.size() == size) {
            ok.header("Link", "</v1/databases?limit=" + size + "&after=" + page.get(page.size() - 1).id() + ">; rel=\"next\"");
        }
        return ok.body(page);
    }

    @GetMapping("/{id}")
    public DatabaseView show(@PathVariable String id) {
        return engine.database(id);
    }

    @PatchMapping("/{id}/policy")
    public DatabaseView changePolicy(@PathVariable String id, @RequestBody PolicyChange body, HttpServletRequest request) {
        return engine.changePolicy(id, body, actor(request));
    }

    /** Where the database is reached: {"pgUrl"?, "pgdata"?, "standbyUrl"?} ("" removes the standby). */
    @PatchMapping("/{id}")
    public DatabaseView changeConnection(@PathVariable String id, @RequestBody ConnectionChange body, HttpServletRequest request) {
        // only an admin may point a database at another server: its stored password would be sent there
        boolean admin = request.getAttribute(AuthFilter.TOKEN) instanceof Tokens.Token t && "admin".equals(t.scope());
        return engine.changeConnection(id, body, actor(request), admin);
    }

    @DeleteMapping("/{id}")
    public ResponseEntity<Void> deregister(@PathVariable String id, @RequestParam(defaultValue = "false") boolean purge,
                                           HttpServletRequest request) {
        engine.deregister(id, purge, actor(request));
        return ResponseEntity.noContent().build();
    }

    @PostMapping("/{id}/base-backups")
    public ResponseEntity<BackupView> requestBaseBackup(@PathVariable String id, @RequestBody(required = false) String body,
                                                        HttpServletRequest request) {
        noFields(body, request);
        BackupView view = engine.requestBaseBackup(id, actor(request));
        return ResponseEntity.accepted().location(URI.create("/v1/databases/" + id + "/base-backups/" + view.id())).body(view);
    }

    @GetMapping("/{id}/base-backups")
    public List<BackupView> baseBackups(@PathVariable String id) {
        return engine.baseBackups(id);
    }

    /**
     * One base backup. With ?waitSeconds=N (0 to 30) and the backup requested or running, the answer waits up to N seconds
     * for its status to change and comes the moment it does: a client waiting for the end asks again at once instead of
     * sleeping between polls.
     */
    @GetMapping("/{id}/base-backups/{backupId}")
    public BackupView baseBackup(@PathVariable String id, @PathVariable String backupId,
                                 @RequestParam(required = false) Integer waitSeconds) {
        return engine.baseBackup(id, backupId, waitFor(waitSeconds));
    }

    /**
     * A completed base backup as a tar archive that starts as a data directory of its own (its WAL to consistency in
     * pg_wal). Built as it is sent: no Content-Length and no ranges. A file that fails its checksum on the way cuts
     * the transfer short, so a damaged archive never arrives as a whole one.
     */
    @GetMapping("/{id}/base-backups/{backupId}/download")
    public void downloadBaseBackup(@PathVariable String id, @PathVariable String backupId, HttpServletResponse response)
            throws IOException {
        BaseBackupDownload download = engine.downloadBaseBackup(id, backupId);
        response.setContentType("application/x-tar");
        response.setHeader("Content-Disposition", "attachment; filename=\"" + download.fileName() + "\"");
        response.setHeader(EXPECTED_BYTES_HEADER, Long.toString(download.approximateBytes()));
        if (download.configurationOutside()) {
            response.setHeader(CONFIGURATION_OUTSIDE_HEADER, "true");
        }
        // not closed on failure: closing would end the chunked answer properly and a cut archive would look whole
        OutputStream out = response.getOutputStream();
        download.writer().writeTo(out);
        out.close();
    }

    @PostMapping("/{id}/dumps")
    public ResponseEntity<DumpView> requestDump(@PathVariable String id, @RequestBody(required = false) DumpRequest body,
                                                HttpServletRequest request) {
        DumpView view = engine.requestDump(id, body == null || body.databases() == null ? List.of() : body.databases(), actor(request));
        return ResponseEntity.accepted().location(URI.create("/v1/databases/" + id + "/dumps/" + view.id())).body(view);
    }

    @GetMapping("/{id}/dumps")
    public List<DumpView> dumps(@PathVariable String id) {
        return engine.dumps(id);
    }

    /** One dump; ?waitSeconds=N waits for its status to change, as for a base backup. */
    @GetMapping("/{id}/dumps/{dumpId}")
    public DumpView dump(@PathVariable String id, @PathVariable String dumpId, @RequestParam(required = false) Integer waitSeconds) {
        return engine.dump(id, dumpId, waitFor(waitSeconds));
    }

    /** The plain pg_dump -Fc archive; "Range: bytes=N-" resumes an interrupted download. */
    @GetMapping("/{id}/dumps/{dumpId}/download")
    public void download(@PathVariable String id, @PathVariable String dumpId, @RequestParam Optional<String> database,
                         @RequestHeader(value = "Range", required = false) String range, HttpServletResponse response) throws IOException {
        DumpDownload download = engine.downloadDump(id, dumpId, database);
        long size = download.size();
        long start = 0;
        long end = size - 1;
        // a Range this server does not serve (not "bytes=N-" or "bytes=N-M": suffixes, several ranges, garbage) is
        // ignored, as RFC 9110 allows: the whole archive follows
        Matcher m = range == null ? null : RANGE.matcher(range.trim());
        if (m != null && m.matches()) {
            start = Long.parseLong(m.group(1));
            if (!m.group(2).isEmpty()) {
                end = Math.min(end, Long.parseLong(m.group(2)));
            }
            if (start >= Math.max(size, 1) || end < start) {
                response.setStatus(HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE.value());
                response.setHeader("Content-Range", "bytes */" + size);
                response.setContentType("application/problem+json");
                response.getWriter().write("{\"type\":\"about:blank\",\"title\":\"Range Not Satisfiable\",\"status\":416,"
                        + "\"detail\":\"the archive has " + size + " bytes: ask for a range that starts inside it (bytes=N- with N below "
                        + size + ")\"}");
                return;
            }
            response.setStatus(HttpStatus.PARTIAL_CONTENT.value());
            response.setHeader("Content-Range", "bytes " + start + "-" + end + "/" + size);
        }
        InputStream opened = download.opener().open(start); // before any header: a failure here is a problem document
        response.setContentType("application/octet-stream");
        response.setHeader("Accept-Ranges", "bytes");
        response.setHeader("Content-Disposition", "attachment; filename=\"" + download.fileName() + "\"");
        if (download.sha256() != null) {
            response.setHeader(SHA256_HEADER, download.sha256()); // of the whole archive, also on a partial answer
        }
        response.setContentLengthLong(end - start + 1);
        try (InputStream in = opened; OutputStream out = response.getOutputStream()) {
            long left = end - start + 1;
            byte[] buffer = new byte[64 * 1024];
            while (left > 0) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                if (n < 0) {
                    break;
                }
                out.write(buffer, 0, n);
                left -= n;
            }
        }
    }

    @PostMapping("/{id}/dumps/{dumpId}/restore")
    public ResponseEntity<RestoreView> restoreDump(@PathVariable String id, @PathVariable String dumpId,
                                                   @RequestBody DumpRestoreRequest body, HttpServletRequest request) {
        if (body == null) {
            throw new InvalidRequestException("give the dumped database and the target database: {\"database\": ..., \"targetDatabase\": ...}");
        }
        RestoreView view = engine.restoreDump(id, dumpId, body.database(), body.targetDatabase(), Boolean.TRUE.equals(body.replace()),
                actor(request));
        return ResponseEntity.accepted().location(URI.create("/v1/databases/" + id + "/restores/" + view.id())).body(view);
    }

    @PostMapping("/{id}/restores")
    public ResponseEntity<RestoreView> requestRestore(@PathVariable String id, @RequestBody RestoreRequest body, HttpServletRequest request) {
        RestoreView view = engine.requestRestore(id, body, actor(request));
        return ResponseEntity.accepted().location(URI.create("/v1/databases/" + id + "/restores/" + view.id())).body(view);
    }

    @GetMapping("/{id}/restores")
    public List<RestoreView> restores(@PathVariable String id) {
        return engine.restores(id);
    }

    /** One restore; ?waitSeconds=N waits for its status to change, as for a base backup. */
    @GetMapping("/{id}/restores/{restoreId}")
    public RestoreView restore(@PathVariable String id, @PathVariable String restoreId,
                               @RequestParam(required = false) Integer waitSeconds) {
        return engine.restore(id, restoreId, waitFor(waitSeconds));
    }

    /** The longest a GET of a job waits for its change: within the server's graceful stop, which waits for open requests. */
    static final int MAX_WAIT_SECONDS = 30;

    private static Duration waitFor(Integer waitSeconds) {
        if (waitSeconds == null) {
            return Duration.ZERO;
        }
        if (waitSeconds < 0 || waitSeconds > MAX_WAIT_SECONDS) {
            throw new InvalidRequestException("waitSeconds must be between 0 and " + MAX_WAIT_SECONDS + ", not " + waitSeconds
                    + ": the answer waits that long at most for the job's status to change");
        }
        return Duration.ofSeconds(waitSeconds);
    }

    @PostMapping("/{id}/restores/{restoreId}/cancel")
    public ResponseEntity<RestoreView> cancelRestore(@PathVariable String id, @PathVariable String restoreId,
                                                     @RequestBody(required = false) String body, HttpServletRequest request) {
        noFields(body, request);
        return ResponseEntity.accepted().body(engine.cancelRestore(id, restoreId, actor(request)));
    }

    @GetMapping("/{id}/window")
    public WindowView window(@PathVariable String id) {
        return engine.recoveryWindow(id);
    }

    /**
     * Reads every object the window needs, whole, and answers what is missing or damaged with what it costs; the answer
     * comes when the reading is done. GET (read scope may ask) and POST do the same; nothing changes.
     */
    @GetMapping("/{id}/verify")
    public VerifyReport verify(@PathVariable String id) throws IOException {
        return engine.verify(id);
    }

    @PostMapping("/{id}/verify")
    public VerifyReport verifyPost(@PathVariable String id) throws IOException {
        return engine.verify(id);
    }

    /** How far the verification running on this node has come (404 when none runs): what tidemark verify draws its bar from. */
    @GetMapping("/{id}/verify/progress")
    public Progress verifyProgress(@PathVariable String id) {
        return engine.verifyProgress(id);
    }

    @GetMapping("/{id}/events")
    public EventPage events(@PathVariable String id, @RequestParam(defaultValue = "0") long from,
                            @RequestParam(defaultValue = "100") int limit) {
        return engine.events(id, from, limit);
    }

    /** The body of a request that takes none: absent or {}; any field is refused as unknown. */
    public record NoFields() {
    }

    /**
     * A request that takes no body accepts none, an empty one of any content type, or {}; a field is refused as unknown,
     * as every endpoint refuses fields it does not take.
     */
    private void noFields(String body, HttpServletRequest request) {
        if (body == null || body.isBlank()) {
            return;
        }
        try {
            json.readValue(body, NoFields.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new org.springframework.http.converter.HttpMessageNotReadableException("unreadable body", e,
                    new org.springframework.http.server.ServletServerHttpRequest(request));
        }
    }
}
