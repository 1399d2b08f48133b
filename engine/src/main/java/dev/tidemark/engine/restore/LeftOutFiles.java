package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.DataDirectoryScan;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerQueries;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Relation files a restore's replay created for transactions the restore leaves out. The gated replay of a time
 * target passes a file created by a bulk load before its commit is read (WalScan.HOLD_NEW_FILES_BYTES); should that
 * transaction be open at the stop, the end of the recovery rolls it back and PostgreSQL leaves its files behind, used by
 * nothing. Once the recovery has ended, each database holding such a file is asked whether a relation uses it
 * (pg_filenode_relation); the unused ones are deleted with the server stopped (a clean shutdown: no buffer or pending
 * sync of theirs left), and the server started again as the recovery ran it, for the hand-over. Not asked: a database
 * that takes no connections, or a copy that does not let the engine in (their files stay, as a crash leaves them, and
 * the log says so).
 */
final class LeftOutFiles {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);
    private static final long GLOBAL_TABLESPACE = 1664;
    private static final long DEFAULT_TABLESPACE = 1663;

    private LeftOutFiles() {
    }

    /**
     * Finds and removes the files of created (the files the gated replay passed) that no relation uses; returns what the
     * restore's result says of it (empty: nothing found).
     */
    static String remove(RestoreRunner.Request request, Path target, PgServer server, Recovery recovery, Collection<WalScan.CreatedFile> created,
                         Path logFile, List<String> commandLine) throws IOException {
        List<Path> unused = unused(request, target, recovery, created);
        if (unused.isEmpty()) {
            return "";
        }
        long bytes = 0;
        for (Path f : unused) {
            bytes += Files.size(f);
        }
        log.info("restore {}: {} relation files ({} MiB) the replay created for transactions the restore leaves out are used by nothing;"
                + " stopping the server to remove them", request.restoreId(), unused.size(), bytes >> 20);
        server.stop();
        for (Path f : unused) {
            Files.deleteIfExists(f);
        }
        server.start(logFile, request.startTimeout(), commandLine);
        return "; " + unused.size() + " relation files (" + (bytes >> 20) + " MiB) of transactions left out at the target removed";
    }

    /** Every fork and segment, as on disk, of the created files no relation uses. */
    private static List<Path> unused(RestoreRunner.Request request, Path target, Recovery recovery, Collection<WalScan.CreatedFile> created)
            throws IOException {
        String versionPrefix = DataDirectoryScan.tablespaceVersionPrefix(target);
        Map<Long, List<WalScan.CreatedFile>> onDisk = new TreeMap<>();
        for (WalScan.CreatedFile f : created) {
            if (!files(target, versionPrefix, f).isEmpty()) {
                onDisk.computeIfAbsent(f.database(), d -> new ArrayList<>()).add(f);
            }
        }
        if (onDisk.isEmpty()) {
            return List.of();
        }
        List<Path> unused = new ArrayList<>();
        try {
            Map<Long, ServerQueries.DatabaseEntry> databases = new TreeMap<>();
            Optional<Connection> first = recovery.connect(Optional.empty());
            if (first.isEmpty()) {
                log.warn("restore {}: {} relation files the replay created were not checked for use (the copy does not let the engine in):"
                        + " files of transactions the restore left out may remain", request.restoreId(),
                        onDisk.values().stream().mapToInt(List::size).sum());
                return List.of();
            }
            try (Connection c = first.get()) {
                new ServerQueries(c).databases().forEach(d -> databases.put(d.oid(), d));
            }
            for (Map.Entry<Long, List<WalScan.CreatedFile>> e : onDisk.entrySet()) {
                // shared catalogs' files (database 0) are asked of the postgres database
                ServerQueries.DatabaseEntry db = e.getKey() == 0 ? null : databases.get(e.getKey());
                if (e.getKey() != 0 && (db == null || !db.allowsConnections())) {
                    log.warn("restore {}: relation files the replay created in database {} were not checked for use ({}): files of"
                            + " transactions the restore left out may remain", request.restoreId(), e.getKey(),
                            db == null ? "no such database" : "it takes no connections");
                    continue;
                }
                try (Connection c = recovery.connect(Optional.ofNullable(db).map(ServerQueries.DatabaseEntry::name)).orElseThrow()) {
                    List<long[]> asked = e.getValue().stream().map(f -> new long[]{f.tablespace(), f.relation()}).toList();
                    for (long[] u : new ServerQueries(c).unusedRelationFiles(asked)) {
                        unused.addAll(files(target, versionPrefix, new WalScan.CreatedFile(u[0], e.getKey(), u[1])));
                    }
                }
            }
        } catch (SQLException | RuntimeException e) {
            log.warn("restore {}: relation files the replay created could not be checked for use ({}): files of transactions the"
                    + " restore left out may remain", request.restoreId(), e.getMessage());
            return List.of();
        }
        return unused;
    }

    /**
     * The files of a relation file number on disk: every fork (main, _fsm, _vm, _init) and segment (.1, .2, ...), in
     * this server's own directory of the tablespace.
     */
    private static List<Path> files(Path target, String versionPrefix, WalScan.CreatedFile f) {
        Path dir;
        if (f.tablespace() == GLOBAL_TABLESPACE) {
            dir = target.resolve("global");
        } else if (f.tablespace() == DEFAULT_TABLESPACE) {
            dir = target.resolve("base").resolve(Long.toString(f.database()));
        } else {
            Path location = target.resolve("pg_tblspc").resolve(Long.toString(f.tablespace()));
            try (var versions = Files.list(location)) {
                Optional<Path> own = versions.filter(v -> v.getFileName().toString().startsWith(versionPrefix)).findFirst();
                if (own.isEmpty()) {
                    return List.of();
                }
                dir = own.get().resolve(Long.toString(f.database()));
            } catch (IOException e) {
                return List.of();
            }
        }
        Pattern name = Pattern.compile(f.relation() + "(_(fsm|vm|init))?(\\.\\d+)?");
        try (var files = Files.list(dir)) {
            return files.filter(p -> name.matcher(p.getFileName().toString()).matches()).sorted().toList();
        } catch (IOException e) {
            return List.of(); // the database's directory is gone (dropped): so are its files
        }
    }
}
