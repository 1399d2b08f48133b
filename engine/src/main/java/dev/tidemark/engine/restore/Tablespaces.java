package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A restore's tablespaces: where they go (beside, in TARGET.tablespaces; in place, at their own locations), their
 * directories and pg_tblspc links, tablespace_map, and, in place, what is at their locations moved aside before and
 * put back on failure. Also the tablespaces the replayed WAL creates (guard).
 */
final class Tablespaces {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private final RestoreRunner.Request request;
    private final BackupManifest manifest;
    private final Path target;
    private final PgServer.Factory servers;
    /** In place: each location moved aside, as {location, where it went}, in the order moved. */
    private final List<Path[]> moved = new ArrayList<>();

    Tablespaces(RestoreRunner.Request request, BackupManifest manifest, Path target, PgServer.Factory servers) {
        this.request = request;
        this.manifest = manifest;
        this.target = target;
        this.servers = servers;
    }

    /** In place: the tablespace's own location. Beside: a directory next to the new data directory. */
    static Path location(RestoreRunner.Request request, Path target, BackupManifest.Tablespace ts) {
        if (request.inPlace()) {
            return Path.of(ts.location());
        }
        return target.resolveSibling(target.getFileName() + ".tablespaces").resolve(ts.oid());
    }

    /** In place (not delta): what is at each of the backup's tablespace locations is moved aside, as the data directory is. */
    void moveAsideInPlace() throws IOException {
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            Path location = Path.of(ts.location());
            if (Files.exists(location)) {
                Path aside = InPlace.asideOf(location);
                Files.move(location, aside, StandardCopyOption.ATOMIC_MOVE);
                moved.add(new Path[]{location, aside});
            }
        }
    }

    /**
     * The tablespaces' directories and their links in pg_tblspc, before the backup's directories that lie in them; the
     * directories it makes are added to created.
     */
    void create(CreatedPaths created) throws IOException {
        if (!request.inPlace() && !manifest.tablespaces().isEmpty()) {
            // made here, never taken over: it fails when something is there (a planted link, say; RestoreTarget checked)
            created.add(Files.createDirectory(RestoreTarget.tablespacesOf(target)));
        }
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            Path location = location(request, target, ts);
            if (request.inPlace()) { // what was there was moved aside: the directories made from here on are the restore's
                created.createDirectories(location);
            } else {
                Files.createDirectory(location);
            }
            Path link = target.resolve("pg_tblspc").resolve(ts.oid());
            Files.createDirectories(link.getParent());
            if (!(request.delta() && Files.isSymbolicLink(link))) { // delta: a link there points to location (DeltaInPlace)
                Files.createSymbolicLink(link, location);
            }
        }
    }

    /** tablespace_map, with the locations the tablespaces were restored to, when the backup has one. */
    void writeMap() throws IOException {
        if (manifest.tablespaceMap() != null) {
            StringBuilder map = new StringBuilder();
            for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
                map.append(ts.oid()).append(' ').append(location(request, target, ts)).append('\n');
            }
            Files.writeString(target.resolve("tablespace_map"), map.toString(), StandardCharsets.UTF_8);
        }
    }

    /**
     * A tablespace the replayed WAL creates is created at the absolute location in the WAL, whatever the restore's
     * target. Beside the source that is the source's live tablespace: refused, before PostgreSQL starts. In place it is
     * the database's own location: what is there now (the state being rolled back) is moved aside, as the data
     * directory is, and replay starts it afresh.
     */
    void guard(WalScan.Result scan, Optional<Lsn> stopAt) throws IOException {
        guard(scan.tablespaces(), stopAt);
    }

    /**
     * The same for the creations read so far (a restore to the latest moment learns of them while the replay follows
     * its read); a location already dealt with is left as it is.
     */
    synchronized void guard(List<WalScan.TablespaceCreation> creations, Optional<Lsn> stopAt) throws IOException {
        // an in-place tablespace (LOCATION '') is created inside the copy's own pg_tblspc: no hazard
        List<WalScan.TablespaceCreation> replayed = creations.stream()
                .filter(t -> stopAt.isEmpty() || t.lsn().compareTo(stopAt.get()) < 0)
                .filter(t -> t.location() == null || !t.location().isEmpty() && Path.of(t.location()).isAbsolute()).toList();
        if (replayed.isEmpty()) {
            return;
        }
        if (!request.inPlace()) {
            WalScan.TablespaceCreation first = replayed.get(0);
            throw new RestoreRejectedException("the WAL between base backup " + manifest.backupId() + " and the target creates tablespace "
                    + first.oid() + " at " + (first.location() == null ? "a location this engine could not read" : first.location())
                    + " (at " + first.lsn() + "): PostgreSQL replays that at the same absolute"
                    + " location, so a copy beside would write into the source's live tablespace. Restore to a time before " + first.lsn()
                    + ", or take a base backup now and restore to a time after it (the backup holds the tablespace and a restore"
                    + " relocates it), or restore in place; nothing of the source was touched");
        }
        Set<Path> written = new HashSet<>();
        manifest.tablespaces().forEach(ts -> written.add(Path.of(ts.location())));
        moved.forEach(m -> written.add(m[0]));
        for (WalScan.TablespaceCreation t : replayed) {
            if (t.location() == null) {
                log.warn("restore {}: the WAL creates a tablespace at {} whose location could not be read; it is replayed as written",
                        request.restoreId(), t.lsn());
                continue;
            }
            Path location = Path.of(t.location());
            if (!written.add(location)) {
                continue; // the backup's own tablespace there (dropped and made again), restored already: replay goes on from it
            }
            if (Files.exists(location, LinkOption.NOFOLLOW_LINKS)) {
                Path aside = InPlace.asideOf(location);
                Files.move(location, aside, StandardCopyOption.ATOMIC_MOVE);
                moved.add(new Path[]{location, aside});
                log.info("restore {}: tablespace {} is created again by the replayed WAL: its current directory {} is moved aside to {}",
                        request.restoreId(), t.oid(), location, aside);
            }
            Files.createDirectories(location);
            servers.at(request.targetDirectory()).user().own(location);
        }
    }

    /**
     * In place: where the previous copy of a manifest path is, in the data directory or tablespace location moved
     * aside, or null for none (a tablespace location that was not there; never through the old directory's link in
     * pg_tblspc, which would lead into what this restore writes).
     */
    Path previous(String path, Path movedAside) {
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            String root = "pg_tblspc/" + ts.oid() + "/";
            if (path.startsWith(root)) {
                Path location = Path.of(ts.location());
                return moved.stream().filter(m -> m[0].equals(location)).findFirst()
                        .map(m -> m[1].resolve(path.substring(root.length()))).orElse(null);
            }
        }
        return movedAside.resolve(path);
    }

    /** Hands the restored tablespaces to the server's user. */
    void own(ServerUser user) throws IOException {
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            user.own(location(request, target, ts));
        }
    }

    /** Before anything was written: what was moved aside goes back. */
    void putBackUnwritten() throws IOException {
        for (Path[] m : moved) {
            Files.move(m[1], m[0], StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** After a failed restore: what it made at each location removed, and what was there put back, the last move first. */
    synchronized void putBack() throws IOException {
        for (Path[] m : moved.reversed()) {
            CreatedPaths.deleteTree(m[0]); // what the restore made there (a tablespace the replayed WAL created again)
            Files.move(m[1], m[0], StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
