package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.DataDirectoryScan;
import dev.tidemark.engine.basebackup.Workers;
import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.postgres.ChildEnvironment;
import dev.tidemark.engine.postgres.LoopbackListener;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Restores a base backup and replays archived WAL to a target time (or to the end of the archive): checks first,
 * then downloads and verifies every object in parallel, writes the data directory, prefetches the WAL into a local
 * spool, starts PostgreSQL and waits until it has left recovery. A failed restore leaves no startable cluster behind.
 */
public final class RestoreRunner {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);
    /** Files from this size on, in whole blocks, are written with O_DIRECT. */
    private static final long DIRECT_MIN_BYTES = 1 << 20;
    private static final int DIRECT_ALIGN = 4096;
    private static final ThreadLocal<ByteBuffer> DIRECT_BUFFER = ThreadLocal.withInitial(
            () -> ByteBuffer.allocateDirect((1 << 20) + DIRECT_ALIGN).alignedSlice(DIRECT_ALIGN));
    private volatile boolean direct = true;
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

    /**
     * One restore.
     *
     * @param targetTime   empty: to the end of the archived WAL ("latest")
     * @param inPlace      the target directory holds the stopped database itself: it is moved aside first
     * @param expectedManifestSha256 the manifest checksum the catalog recorded, or null
     */
    public record Request(String databaseId, String restoreId, String backupId, String expectedManifestSha256,
                          Optional<Instant> targetTime, Path targetDirectory, int port, boolean inPlace, String superuser,
                          int workers, Duration startTimeout, String password) {
        /** Without a password: the restored server's pg_hba.conf lets superuser in from 127.0.0.1 without one. */
        public Request(String databaseId, String restoreId, String backupId, String expectedManifestSha256,
                       Optional<Instant> targetTime, Path targetDirectory, int port, boolean inPlace, String superuser,
                       int workers, Duration startTimeout) {
            this(databaseId, restoreId, backupId, expectedManifestSha256, targetTime, targetDirectory, port, inPlace, superuser, workers,
                    startTimeout, null);
        }

        @Override
        public String toString() { // never the password
            return "restore " + restoreId + " of " + databaseId + " from " + backupId + " into " + targetDirectory + " (port " + port
                    + ", " + targetTime.map(Instant::toString).orElse("latest") + (inPlace ? ", in place" : "") + ")";
        }
    }

    /** What the restore achieved. */
    public record Result(Path dataDirectory, int port, Instant reachedTime, String reachedLsn, int timeline,
                         boolean stoppedAtTarget, Path movedAside, String summary) {
    }

    private final Repository repository;
    private final PgServer.Factory servers;
    private final List<Path> restoreRoots;
    private final AtomicReference<BackupProgress> progress = new AtomicReference<>(BackupProgress.starting("queued"));
    private volatile long walStart;
    private volatile long walTotal;
    /** Recovery pauses at the target and the runner promotes it (fast promotion, no end-of-recovery checkpoint). */
    private volatile boolean promoteAtTarget;
    private volatile int serverVersionNum;
    /** Who cancelled the restore (null while it is not cancelled), and the spool to close then. */
    private volatile String cancelledBy;
    private volatile WalSpool activeSpool;

    /** The secret the recovery's log lines start with (RecoveryLog). */
    private volatile String logTag;

    public RestoreRunner(Repository repository, PgServer.Factory servers) {
        this(repository, servers, List.of());
    }

    /** With restoreRoots not empty, a copy beside its source goes under one of these directories only. */
    public RestoreRunner(Repository repository, PgServer.Factory servers, List<Path> restoreRoots) {
        this.repository = repository;
        this.servers = servers;
        this.restoreRoots = List.copyOf(restoreRoots);
    }

    /**
     * Cancels the restore: the file writers and the WAL fetch stop, and the restore fails at its next step, undoing what
     * it did as any failed restore does (the copy removed; in place, the old data directory put back).
     */
    public void cancel(String by) {
        cancelledBy = by;
        stopFileWriters();
        WalSpool spool = activeSpool;
        if (spool != null) {
            spool.close();
        }
    }

    /** Who cancelled the restore, if anyone did. */
    public Optional<String> cancelledBy() {
        return Optional.ofNullable(cancelledBy);
    }

    private void requireNotCancelled() throws IOException {
        if (cancelledBy != null) {
            throw new IOException("cancelled by " + cancelledBy);
        }
    }

    public BackupProgress progress() {
        return progress.get();
    }

    /**
     * Characters a path must not hold to be handed to pg_ctl: it starts PostgreSQL through a shell, with the data
     * directory and the log file inside double quotes, where $, `, " and \ still act. A path holding them could run
     * commands as the server's user.
     */
    private static final Pattern SHELL_ACTIVE = Pattern.compile("[\"$`\\\\\\p{Cntrl}]");

    /** Why pg_ctl could not be given this directory safely (see {@link #SHELL_ACTIVE}), or empty when it can. */
    public static Optional<String> shellUnsafe(String what, Path path) {
        java.util.regex.Matcher m = SHELL_ACTIVE.matcher(path.toString());
        if (!m.find()) {
            return Optional.empty();
        }
        String c = m.group();
        return Optional.of(what + " " + path + " holds " + (Character.isISOControl(c.charAt(0)) ? "a control character" : "'" + c + "'")
                + ", which PostgreSQL's pg_ctl would hand to a shell: choose a path without \" $ ` \\ or control characters");
    }

    /** Everything that can be checked before a byte is written; throws RestoreRejectedException. */
    public BackupManifest check(Request request) throws IOException {
        Path target = request.targetDirectory().toAbsolutePath().normalize();
        shellUnsafe(request.inPlace() ? "the data directory" : "target directory", target).ifPresent(problem -> {
            throw new RestoreRejectedException(problem + " (nothing was written)");
        });
        String name = target.getFileName() == null ? "" : target.getFileName().toString();
        if (name.endsWith(".tidemark-wal") || name.endsWith(".tidemark-restore.log") || name.contains(".tidemark-moved-")) {
            throw new RestoreRejectedException("target " + target + " has a name restores use for their own files beside a target"
                    + " (.tidemark-wal, .tidemark-restore.log, .tidemark-moved-): choose another name (nothing was written)");
        }
        if (!request.inPlace()) {
            for (Path up = target.getParent(); up != null; up = up.getParent()) {
                if (Files.exists(up.resolve("PG_VERSION")) || Files.exists(up.resolve("global").resolve("pg_control"))) {
                    throw new RestoreRejectedException("target " + target + " lies inside the PostgreSQL data directory " + up
                            + ": choose a directory outside every data directory (nothing was written)");
                }
            }
        }
        PgServer existing = servers.at(target);
        if (request.inPlace()) {
            if (!Files.isDirectory(target)) {
                throw new RestoreRejectedException("in-place restore: " + target + " is not a directory; give the database's data directory");
            }
            if (existing.isRunning()) {
                throw new RestoreRejectedException("in-place restore refused: PostgreSQL is running on " + target
                        + " (postmaster PID " + existing.postmasterPid().orElseThrow() + "); stop it first (pg_ctl -D " + target + " stop)");
            }
        }
        if (request.port() < 1 || request.port() > 65535) {
            throw new RestoreRejectedException("port " + request.port() + " is not a TCP port (1-65535)");
        }
        if (request.port() < 1024 && !request.inPlace()) {
            throw new RestoreRejectedException("port " + request.port() + " is a privileged port, which PostgreSQL (never run as root)"
                    + " cannot listen on: choose a port from 1024 up (nothing was written)");
        }
        if (!portFree(request.port())) {
            throw new RestoreRejectedException("port " + request.port() + " is in use: choose a free port for the restored server");
        }
        BackupManifest manifest = loadManifest(request);
        if (!request.inPlace()) {
            RestoreTarget.check(target, existing.user().name(), restoreRoots, !manifest.tablespaces().isEmpty());
        }
        // the spool holds WAL as PostgreSQL reads it (whole segments), up to the target and a bounded margin; PostgreSQL
        // hard-links what it replays, so that is counted once
        long walBytes = WalSpool.spoolBytes(walObjects(request, manifest), manifest.walSegmentSize(), request.targetTime());
        long needed = manifest.totalBytes() + walBytes + (64L << 20);
        Path existingAncestor = target;
        while (existingAncestor != null && !Files.exists(existingAncestor)) {
            existingAncestor = existingAncestor.getParent();
        }
        if (existingAncestor != null && !Files.isDirectory(existingAncestor)) {
            throw new RestoreRejectedException(existingAncestor + " is a file, not a directory, so no directory can be made under it"
                    + " for " + target + ": choose another path (nothing was written)");
        }
        if (existingAncestor != null && !serverUserCanEnter(existing, existingAncestor)) {
            throw new RestoreRejectedException("the PostgreSQL server's user (" + existing.user().name() + ") cannot enter "
                    + existingAncestor + ", so it could not start a server under " + target + ": choose a directory it can reach "
                    + "(nothing was written)");
        }
        if (existingAncestor != null) {
            FileStore store = Files.getFileStore(existingAncestor);
            if (store.getUsableSpace() < needed) {
                throw new RestoreRejectedException("not enough disk space for the restore under " + existingAncestor + ": need about "
                        + (needed >> 20) + " MiB, " + (store.getUsableSpace() >> 20) + " MiB free; free space or choose another directory");
            }
        }
        return manifest;
    }

    /** Whether the server's user can search the directory (and so every directory the engine creates under it). */
    private static boolean serverUserCanEnter(PgServer server, Path directory) {
        try {
            Process p = ChildEnvironment.builder(server.user().command(List.of("test", "-x", directory.toString()))).redirectErrorStream(true)
                    .start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return true; // cannot tell: PostgreSQL's own start says it later
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    /** The directories restores of this engine are writing into now, with their spools: no two may overlap. */
    private static final java.util.Set<Path> ACTIVE = new java.util.HashSet<>();

    /** Claims target for this restore, or refuses it when another one under way writes into, above or below it. */
    private static void claim(Path target, String restoreId) {
        synchronized (ACTIVE) {
            for (Path other : ACTIVE) {
                for (Path mine : List.of(target, spoolOf(target))) {
                    for (Path theirs : List.of(other, spoolOf(other))) {
                        if (mine.startsWith(theirs) || theirs.startsWith(mine)) {
                            throw new RestoreRejectedException("another restore is writing into " + other + ", which overlaps " + target
                                    + ": choose a directory outside it (nothing was written)");
                        }
                    }
                }
            }
            ACTIVE.add(target);
        }
    }

    private static void release(Path target) {
        synchronized (ACTIVE) {
            ACTIVE.remove(target);
        }
    }

    public Result run(Request request) throws IOException, InterruptedException {
        Path target = request.targetDirectory().toAbsolutePath().normalize();
        claim(target, request.restoreId());
        try {
            return runClaimed(request, target);
        } finally {
            release(target);
        }
    }

    private Result runClaimed(Request request, Path target) throws IOException, InterruptedException {
        BackupManifest manifest = check(request);
        Path spool = spoolOf(target);
        // the target is claimed by creating its WAL spool, atomically: a second restore into the same directory (of
        // another database, or asked at the same moment) is refused here and touches nothing of the first
        try {
            Files.createDirectories(target.getParent());
            // decrypted WAL goes in it: for the server's user alone, as pg_wal is
            Files.createDirectory(spool, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new RestoreRejectedException("another restore is writing into " + target + " (its WAL spool " + spool + " exists):"
                    + " choose another directory; if no restore runs, the spool is left from an interrupted one: delete it"
                    + " (nothing was written)");
        }
        Path movedAside = null;
        List<Path[]> movedTablespaces = new ArrayList<>();
        try {
            if (request.inPlace()) {
                movedAside = target.resolveSibling(target.getFileName() + ".tidemark-moved-" + STAMP.format(Instant.now()));
                Files.move(target, movedAside, StandardCopyOption.ATOMIC_MOVE);
                log.info("restore {}: moved the old data directory {} aside to {}", request.restoreId(), target, movedAside);
            }
            if (request.inPlace()) {
                for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
                    Path location = Path.of(ts.location());
                    if (Files.exists(location)) {
                        Path aside = location.resolveSibling(location.getFileName() + ".tidemark-moved-" + STAMP.format(Instant.now()));
                        Files.move(location, aside, StandardCopyOption.ATOMIC_MOVE);
                        movedTablespaces.add(new Path[]{location, aside});
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            for (Path[] moved : movedTablespaces) {
                Files.move(moved[1], moved[0], StandardCopyOption.ATOMIC_MOVE);
            }
            if (movedAside != null && !Files.exists(target)) {
                Files.move(movedAside, target, StandardCopyOption.ATOMIC_MOVE);
            }
            deleteTree(spool);
            throw e;
        }
        Path logFile = target.resolveSibling(target.getFileName() + ".tidemark-restore.log");
        PgServer server = servers.at(target);
        boolean success = false;
        WalSpool wal = null;
        // an empty directory of the server's user (RestoreTarget) is kept on failure, emptied; what the restore
        // creates is listed as it goes and removed on failure, and nothing else is
        boolean targetExisted = Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS);
        List<Path> created = new ArrayList<>();
        try {
            if (!targetExisted) {
                Files.createDirectories(target);
                created.add(target);
            }
            Files.setPosixFilePermissions(target, EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                    PosixFilePermission.OWNER_EXECUTE));
            long t0 = System.nanoTime();
            // the WAL is fetched, and read by the scan, while the files are written; PostgreSQL starts once the WAL up
            // to the stop point is in (the scan needs it), so the fetch has as many workers as the files
            wal = new WalSpool(repository, spool, walObjects(request, manifest), manifest.walSegmentSize(),
                    Math.max(1, request.workers()), request.restoreId(), server.user());
            wal.start(); // timeline histories now; the segments in the background
            activeSpool = wal;
            requireNotCancelled();
            WalSpool spooled = wal;
            // set by the scan before it stops the file writers, so a writer's interruption is not taken for the reason
            AtomicBoolean scanStoppedWriters = new AtomicBoolean();
            ExecutorService scanner = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "wal-scan-" + request.restoreId());
                t.setDaemon(true);
                return t;
            });
            Future<Scanned> scanning = scanner.submit(() -> {
                try {
                    WalScan.Result read = scanWal(request, manifest, spooled);
                    Scanned scanned = new Scanned(read, stopPoint(request, manifest, read));
                    if (!request.inPlace()) { // refused beside: known before the files are all written
                        guardTablespaces(request, manifest, read, scanned.stopAt(), new ArrayList<>());
                    }
                    return scanned;
                } catch (IOException | RuntimeException e) {
                    scanStoppedWriters.set(true);
                    stopFileWriters(); // the restore fails: writing the rest of the files would be for nothing
                    throw e;
                }
            });
            scanner.shutdown();
            Scanned scanned;
            try {
                try {
                    writeDataDirectory(request, manifest, target, created);
                } catch (IOException | RuntimeException e) {
                    if (scanStoppedWriters.get() || scanning.isDone()) {
                        // the scan's failure, which stopped the writers, is the reason to report; it is thrown the
                        // moment after the writers were stopped, so waiting for it is short
                        scanning.get();
                    }
                    throw e;
                }
                scanned = scanning.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException r) {
                    throw r; // a refusal (RestoreRejectedException) keeps its kind
                }
                throw cause instanceof IOException io ? io : new IOException(cause.getMessage(), cause);
            } finally {
                scanning.cancel(true);
            }
            requireNotCancelled();
            long t1 = System.nanoTime();
            WalScan.Result scan = scanned.scan();
            Optional<Lsn> stopAt = scanned.stopAt();
            guardTablespaces(request, manifest, scan, stopAt, movedTablespaces);
            int walFiles = wal.files();
            long t2 = System.nanoTime();
            writeRecoverySettings(request, manifest, target, wal.restoreCommand(), stopAt);
            server.user().own(target);
            log.info("restore {}: {} MiB of files written and checked, and the WAL to replay read, in {} ms; {} WAL files in the spool; "
                            + "ownership set in {} ms", request.restoreId(), manifest.totalBytes() >> 20, (t1 - t0) / 1_000_000, walFiles,
                    (System.nanoTime() - t2) / 1_000_000);
            for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
                server.user().own(tablespaceLocation(request, target, ts));
            }
            walStart = Lsn.parse(manifest.startLsn()).value();
            walTotal = (long) walFiles * manifest.walSegmentSize();
            progress.set(new BackupProgress("recovering", manifest.totalBytes(), manifest.totalBytes(), walFiles, walFiles, 0));
            log.info("restore {}: starting PostgreSQL on port {} to replay WAL {}", request.restoreId(), request.port(),
                    request.targetTime().map(t -> "up to " + t).orElse("to the end of the archive"));
            Result result;
            try {
                result = recover(request, server, target, logFile, movedAside, wal);
                requireNoHole(wal, request);
            } catch (IOException e) {
                if (wal.failure().isPresent()) {
                    throw new IOException("fetching WAL for the recovery failed, so the recovery was aborted: " + wal.failure().get(), e);
                }
                throw e;
            }
            wal.close();
            if (wal.failure().isPresent()) {
                // the recovery ended well, so it never asked for what failed (a segment it asks for and cannot have
                // aborts it): a damaged segment beyond the target does not spoil a restore that stopped before it
                log.warn("restore {}: fetching WAL beyond what the recovery needed failed ({}); the restore is complete",
                        request.restoreId(), wal.failure().get());
            }
            log.info("restore {}: {} of {} WAL files fetched ({} MiB stored) by the time recovery ended",
                    request.restoreId(), wal.fetched(), walFiles, wal.fetchedBytes() >> 20);
            success = true;
            deleteTree(spool);
            removeRecoverySettings(request, target);
            progress.set(new BackupProgress("done", manifest.totalBytes(), manifest.totalBytes(), walFiles, walFiles, 0));
            log.info("restore {}: {}", request.restoreId(), result.summary());
            return result;
        } finally {
            if (wal != null) {
                wal.close();
            }
            if (!success) {
                progress.set(BackupProgress.starting("failed"));
                WalSpool.remove(spool); // first: a recovery in restore_command is told to abort, and stops
                try {
                    server.stopImmediately();
                } catch (IOException e) {
                    log.warn("restore {}: could not stop the server it started: {}", request.restoreId(), e.getMessage());
                }
                if (targetExisted) {
                    emptyDirectory(target);
                }
                for (Path made : created.reversed()) {
                    deleteTree(made);
                }
                for (Path[] moved : movedTablespaces.reversed()) { // the last move first
                    deleteTree(moved[0]); // what the restore made there (a tablespace the replayed WAL created again)
                    Files.move(moved[1], moved[0], StandardCopyOption.ATOMIC_MOVE);
                }
                if (movedAside != null) {
                    Files.move(movedAside, target, StandardCopyOption.ATOMIC_MOVE);
                    log.info("restore {} failed: the old data directory is back at {}", request.restoreId(), target);
                }
            }
        }
    }

    private BackupManifest loadManifest(Request request) throws IOException {
        String key = repository.layout().baseBackupManifest(request.databaseId(), request.backupId());
        try (InputStream in = request.expectedManifestSha256() == null ? repository.openDecoded(key)
                : repository.openDecoded(key, request.expectedManifestSha256())) {
            return BackupManifest.fromJson(in, key);
        }
    }

    /** Writes the data directory and the tablespaces; the directories it creates outside target are added to created. */
    private void writeDataDirectory(Request request, BackupManifest manifest, Path target, List<Path> created)
            throws IOException, InterruptedException {
        // the tablespaces' directories first: the ones of the backup's directories that lie in them go inside
        if (!request.inPlace() && !manifest.tablespaces().isEmpty()) {
            // made here, never taken over: it fails when something is there (a planted link, say; RestoreTarget checked)
            created.add(Files.createDirectory(RestoreTarget.tablespacesOf(target)));
        }
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            Path location = tablespaceLocation(request, target, ts);
            if (request.inPlace()) { // what was there was moved aside: the directories made from here on are the restore's
                createDirectoriesNoted(location, created);
            } else {
                Files.createDirectory(location);
            }
            Path link = target.resolve("pg_tblspc").resolve(ts.oid());
            Files.createDirectories(link.getParent());
            Files.createSymbolicLink(link, location);
        }
        for (BackupManifest.FileEntry e : manifest.files()) {
            if (e.type() == BackupManifest.FileEntry.DIRECTORY && !isTablespaceRoot(manifest, e.path())) {
                Files.createDirectories(resolve(request, manifest, target, e.path()));
            }
        }
        for (BackupManifest.FileEntry e : manifest.files()) {
            if (e.type() == 'l' && DataDirectoryScan.isEmptiedDirectory(e.path())) {
                // a backup taken before such links were recorded as directories: pg_wal (or another emptied
                // directory) linked elsewhere becomes a directory of its own, never a link into the source's
                Path dir = resolve(request, manifest, target, e.path());
                Files.createDirectories(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
                if (e.path().equals("pg_wal")) {
                    Files.createDirectories(dir.resolve("archive_status"));
                }
            } else if (e.type() == 'l') {
                Files.createSymbolicLink(resolve(request, manifest, target, e.path()), Path.of(e.linkTarget()));
            }
        }
        Map<Integer, List<BackupManifest.FileEntry>> byObject = manifest.files().stream()
                .filter(e -> e.type() == BackupManifest.FileEntry.FILE)
                .collect(Collectors.groupingBy(BackupManifest.FileEntry::object, TreeMap::new, Collectors.toList()));
        long total = manifest.totalBytes();
        // a large file comes in pieces (one entry and one object each), written in parallel at their places
        Map<String, Long> entriesPerPath = manifest.files().stream().filter(e -> e.type() == BackupManifest.FileEntry.FILE)
                .collect(Collectors.groupingBy(BackupManifest.FileEntry::path, Collectors.counting()));
        // the kernel writes one file at a time (ext4 holds the inode's lock for each buffered write, and a second
        // writer spins on it): one piece of a file at a time, while the other workers restore other files
        Map<String, Object> pieced = entriesPerPath.entrySet().stream().filter(e -> e.getValue() > 1)
                .collect(Collectors.toMap(Map.Entry::getKey, e -> new Object()));
        long fileCount = entriesPerPath.size();
        AtomicLong bytes = new AtomicLong();
        AtomicLong files = new AtomicLong();
        long started = System.nanoTime();
        progress.set(new BackupProgress("downloading", 0, total, 0, fileCount, 0));
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, request.workers()), r -> {
            Thread t = new Thread(r, "restore-" + request.restoreId());
            t.setDaemon(true);
            return t;
        });
        fileWriters = pool;
        try {
            requireNotCancelled(); // cancelled before the pool existed: nothing stopped it
            List<Future<?>> futures = new ArrayList<>();
            for (BackupManifest.BundleObject object : manifest.objects()) {
                List<BackupManifest.FileEntry> entries = new ArrayList<>(byObject.getOrDefault(object.number(), List.of()));
                entries.sort(Comparator.comparingLong(BackupManifest.FileEntry::offset));
                futures.add(pool.submit(() -> {
                    unpack(request, manifest, target, object, entries, pieced, n -> {
                        long done = bytes.addAndGet(n);
                        double secs = Math.max(1e-3, (System.nanoTime() - started) / 1e9);
                        progress.set(new BackupProgress("downloading", done, total, files.get(), fileCount, done / secs));
                    }, files);
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    futures.forEach(other -> other.cancel(true));
                    Throwable cause = e.getCause();
                    throw cause instanceof IOException io ? io : new IOException(cause.getMessage(), cause);
                }
            }
        } finally {
            Workers.stopAndWait(pool);
        }
        for (BackupManifest.FileEntry e : manifest.files()) {
            if (e.type() == BackupManifest.FileEntry.FILE && e.fileOffset() == 0 && pieced.containsKey(e.path())) {
                Path file = resolve(request, manifest, target, e.path());
                Files.setPosixFilePermissions(file, permissions(e.mode()));
                Files.setLastModifiedTime(file, FileTime.from(e.mtime()));
            }
        }
        for (BackupManifest.FileEntry e : manifest.files()) {
            if (e.type() == BackupManifest.FileEntry.DIRECTORY && !isTablespaceRoot(manifest, e.path())) {
                Path dir = resolve(request, manifest, target, e.path());
                Files.setPosixFilePermissions(dir, permissions(e.mode() == 0 ? 0700 : e.mode()));
            }
        }
        Files.writeString(target.resolve("backup_label"), manifest.backupLabel(), StandardCharsets.UTF_8);
        if (manifest.tablespaceMap() != null) {
            StringBuilder map = new StringBuilder();
            for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
                map.append(ts.oid()).append(' ').append(tablespaceLocation(request, target, ts)).append('\n');
            }
            Files.writeString(target.resolve("tablespace_map"), map.toString(), StandardCharsets.UTF_8);
        }
    }

    private interface Copied {
        void bytes(long n);
    }

    private void unpack(Request request, BackupManifest manifest, Path target, BackupManifest.BundleObject object,
                        List<BackupManifest.FileEntry> entries, Map<String, Object> pieced, Copied copied, AtomicLong files)
            throws IOException {
        byte[] buffer = new byte[256 * 1024];
        MessageDigest digest = Codec.sha256();
        // every file (or piece) is checked against its own SHA-256 and every chunk against its GCM tag (or CRC):
        // hashing the whole bundle again would add a pass over every byte and check nothing more
        try (InputStream in = repository.openDecoded(object.key())) {
            long position = 0;
            for (BackupManifest.FileEntry e : entries) {
                if (e.offset() != position) {
                    in.skipNBytes(e.offset() - position);
                    position = e.offset();
                }
                Path file = resolve(request, manifest, target, e.path());
                Object fileLock = pieced.get(e.path());
                boolean piece = fileLock != null;
                digest.reset();
                // a whole file is new (the target was checked empty); the pieces of one file share it
                StandardOpenOption create = piece ? StandardOpenOption.CREATE : StandardOpenOption.CREATE_NEW;
                if (!writeDirect(in, file, e, object, buffer, digest, copied, create)) {
                    if (piece) {
                        // buffered, the kernel writes one file at a time (ext4 holds the inode's lock for each write and
                        // a second writer spins on it): one piece of a file at a time, other workers on other files
                        synchronized (fileLock) {
                            writeBuffered(in, file, e, object, buffer, digest, copied, create);
                        }
                    } else {
                        writeBuffered(in, file, e, object, buffer, digest, copied, create);
                    }
                }
                position += e.size();
                String actual = HexFormat.of().formatHex(digest.digest());
                if (!actual.equals(e.sha256())) {
                    throw new IOException("checksum mismatch for " + e.path() + (piece ? " (piece at byte " + e.fileOffset() + ")" : "")
                            + " from object " + object.key() + ": manifest says " + e.sha256() + ", restored bytes have " + actual
                            + "; the backup is damaged");
                }
                if (!piece) {
                    Files.setPosixFilePermissions(file, permissions(e.mode()));
                    Files.setLastModifiedTime(file, FileTime.from(e.mtime()));
                    files.incrementAndGet();
                } else if (e.fileOffset() == 0) {
                    files.incrementAndGet();
                }
            }
            in.transferTo(OutputStream.nullOutputStream()); // reach the end, so the codec sees the final chunk (truncation)
        }
    }

    /** Writes the entry's bytes from the object's stream at their place in the file, through the page cache. */
    private static void writeBuffered(InputStream in, Path file, BackupManifest.FileEntry e, BackupManifest.BundleObject object,
                                      byte[] buffer, MessageDigest digest, Copied copied, StandardOpenOption create) throws IOException {
        try (FileChannel out = FileChannel.open(file, create, StandardOpenOption.WRITE)) {
            long left = e.size();
            long at = e.fileOffset();
            while (left > 0) {
                int n = read(in, buffer, (int) Math.min(buffer.length, left), object, e);
                ByteBuffer chunk = ByteBuffer.wrap(buffer, 0, n);
                while (chunk.hasRemaining()) {
                    at += out.write(chunk, at);
                }
                digest.update(buffer, 0, n);
                left -= n;
                copied.bytes(n);
            }
        }
    }

    /**
     * Writes a large, block-aligned file (or piece) with O_DIRECT, past the page cache: copying into freshly allocated
     * cache pages costs more CPU than decoding and hashing together, and ext4 lets one buffered writer of a file in at
     * a time. False, with nothing read, when the entry does not qualify or the file system refuses O_DIRECT (then the
     * restore stops trying).
     */
    private boolean writeDirect(InputStream in, Path file, BackupManifest.FileEntry e, BackupManifest.BundleObject object,
                                byte[] buffer, MessageDigest digest, Copied copied, StandardOpenOption create) throws IOException {
        if (!direct || e.size() < DIRECT_MIN_BYTES || e.size() % DIRECT_ALIGN != 0 || e.fileOffset() % DIRECT_ALIGN != 0) {
            return false;
        }
        FileChannel out;
        try {
            out = FileChannel.open(file, create, StandardOpenOption.WRITE, com.sun.nio.file.ExtendedOpenOption.DIRECT);
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException x) {
            if (direct) {
                direct = false;
                log.info("restore: the target file system refuses O_DIRECT ({}); writing through the page cache", x.getMessage());
            }
            return false;
        }
        ByteBuffer aligned = DIRECT_BUFFER.get();
        try (out) {
            long left = e.size();
            long at = e.fileOffset();
            while (left > 0) {
                aligned.clear();
                while (aligned.hasRemaining() && left > 0) {
                    int n = read(in, buffer, (int) Math.min(Math.min(buffer.length, left), aligned.remaining()), object, e);
                    digest.update(buffer, 0, n);
                    aligned.put(buffer, 0, n);
                    left -= n;
                    copied.bytes(n);
                }
                aligned.flip(); // a multiple of the alignment: full buffers, and a file size that is one
                while (aligned.hasRemaining()) {
                    at += out.write(aligned, at);
                }
            }
        }
        return true;
    }

    private static int read(InputStream in, byte[] buffer, int max, BackupManifest.BundleObject object, BackupManifest.FileEntry e)
            throws IOException {
        int n = in.read(buffer, 0, max);
        if (n < 0) {
            throw new IOException("object " + object.key() + " ended inside " + e.path() + ": the backup is damaged");
        }
        return n;
    }

    /** WAL objects of the backup's chain from the segment holding its start onwards, and every timeline history. */
    private List<ObjectInfo> walObjects(Request request, BackupManifest manifest) throws IOException {
        String prefix = repository.layout().walPrefix(request.databaseId(), manifest.chain());
        long first = WalSegment.containing(1, Lsn.parse(manifest.startLsn()), manifest.walSegmentSize()).number();
        try (Stream<ObjectInfo> all = repository.store().list(prefix)) {
            return all.filter(o -> {
                String n = name(o.key());
                if (RepositoryLayout.TIMELINE_HISTORY.matcher(n).matches()) {
                    return true;
                }
                if (n.length() < 24 || !RepositoryLayout.WAL_SEGMENT.matcher(n.substring(0, 24)).matches()) {
                    return false;
                }
                return WalSegment.parse(n.substring(0, 24), manifest.walSegmentSize()).number() >= first;
            }).toList();
        }
    }

    /**
     * Reads the WAL the recovery will replay (WalScan), from the backup's start along the timelines recovery follows,
     * up to the first commit after the target (or the end of the WAL for the latest moment).
     */
    /** The WAL read before the recovery, and where a time target stops in it (empty: at the end, or by the time). */
    private record Scanned(WalScan.Result scan, Optional<Lsn> stopAt) {
    }

    /** The pool writing the data files, while it runs; stopped when the WAL scan fails. */
    private volatile ExecutorService fileWriters;

    /** Stops the file writers: running ones are interrupted, queued ones cancelled (so nothing waits for them). */
    private void stopFileWriters() {
        ExecutorService writers = fileWriters;
        if (writers != null) {
            for (Runnable queued : writers.shutdownNow()) {
                if (queued instanceof Future<?> f) {
                    f.cancel(true);
                }
            }
        }
    }

    private WalScan.Result scanWal(Request request, BackupManifest manifest, WalSpool wal) throws IOException, InterruptedException {
        long started = System.nanoTime();
        Optional<Map.Entry<Integer, String>> newest = wal.newestHistory();
        List<WalScan.Timeline> path = WalScan.path(manifest.timeline(), newest.map(Map.Entry::getValue),
                newest.map(Map.Entry::getKey).orElse(manifest.timeline()));
        WalScan.Result result = new WalScan(new WalScan.Segments() {
            @Override
            public Optional<Path> segment(String name) throws IOException, InterruptedException {
                return wal.segment(name);
            }

            @Override
            public java.util.Set<String> names() {
                return wal.segmentNames();
            }
        }, path, manifest.walSegmentSize()).scan(Lsn.parse(manifest.startLsn()), request.targetTime());
        if (result.hole().isPresent()) {
            throw new IOException("WAL segment " + result.hole().get() + " is missing from the repository (or unreadable from where the"
                    + " WAL breaks off in it) although later WAL is there: the WAL to replay breaks off at it, short of " + request.targetTime().map(Instant::toString).orElse("the end of the archive")
                    + "; restore to a time before it (see 'tidemark window " + request.databaseId() + "') and find out what removed"
                    + " it from the repository");
        }
        log.info("restore {}: read {} WAL records from {} to {} in {} ms{}{}", request.restoreId(), result.records(), manifest.startLsn(),
                result.end(), (System.nanoTime() - started) / 1_000_000,
                result.lastCommitTime().map(t -> "; last commit at or before the target: " + t + " (ends at "
                        + result.lastCommitEnd().orElseThrow() + ")").orElse(""),
                result.tablespaces().isEmpty() ? "" : "; tablespaces created: " + result.tablespaces());
        return result;
    }

    /**
     * Where the recovery stops for a time target: right after the last commit at or before it (never before the
     * backup's own end, where the copy becomes consistent). Empty for the latest moment, or when the scan did not reach
     * the backup's end (then PostgreSQL's time target is used, as it was before the scan existed).
     */
    private Optional<Lsn> stopPoint(Request request, BackupManifest manifest, WalScan.Result scan) throws IOException {
        if (request.targetTime().isEmpty()) {
            return Optional.empty();
        }
        Lsn backupEnd = Lsn.parse(manifest.stopLsn());
        if (scan.stoppedAt().isPresent() && scan.stoppedAt().get().compareTo(backupEnd) < 0) {
            // PostgreSQL's time target would fail here too ("before consistent recovery point"): never raise the stop
            throw new IOException("target " + request.targetTime().get() + " lies before base backup " + manifest.backupId()
                    + " is consistent: a commit after the target (at " + scan.stoppedAt().get() + ") precedes the backup's end ("
                    + backupEnd + "); restore to a later time, or to a time the window shows an earlier backup for");
        }
        if (scan.unreadableCommit()) {
            log.warn("restore {}: a commit record in the WAL could not be read; stopping by the target time instead",
                    request.restoreId());
            return Optional.empty();
        }
        if (scan.end().compareTo(backupEnd) < 0 && scan.stoppedAt().isEmpty()) {
            log.warn("restore {}: the WAL read ended at {}, before the backup's end {}; stopping by the target time instead",
                    request.restoreId(), scan.end(), backupEnd);
            return Optional.empty();
        }
        Lsn stop = scan.lastCommitEnd().filter(l -> l.compareTo(backupEnd) > 0).orElse(backupEnd);
        return Optional.of(stop);
    }

    /**
     * A tablespace the replayed WAL creates is created at the absolute location in the WAL, whatever the restore's
     * target. Beside the source that is the source's live tablespace: refused, before PostgreSQL starts. In place it is
     * the database's own location: what is there now (the state being rolled back) is moved aside, as the data
     * directory is, and replay starts it afresh.
     */
    private void guardTablespaces(Request request, BackupManifest manifest, WalScan.Result scan, Optional<Lsn> stopAt,
                                  List<Path[]> movedTablespaces) throws IOException {
        // an in-place tablespace (LOCATION '') is created inside the copy's own pg_tblspc: no hazard
        List<WalScan.TablespaceCreation> replayed = scan.tablespaces().stream()
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
        java.util.Set<Path> written = new java.util.HashSet<>();
        manifest.tablespaces().forEach(ts -> written.add(Path.of(ts.location())));
        movedTablespaces.forEach(m -> written.add(m[0]));
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
            if (Files.exists(location, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Path aside = location.resolveSibling(location.getFileName() + ".tidemark-moved-" + STAMP.format(Instant.now()));
                Files.move(location, aside, StandardCopyOption.ATOMIC_MOVE);
                movedTablespaces.add(new Path[]{location, aside});
                log.info("restore {}: tablespace {} is created again by the replayed WAL: its current directory {} is moved aside to {}",
                        request.restoreId(), t.oid(), location, aside);
            }
            Files.createDirectories(location);
            servers.at(request.targetDirectory()).user().own(location);
        }
    }

    private void writeRecoverySettings(Request request, BackupManifest manifest, Path target, String restoreCommand,
                                       Optional<Lsn> stopAt) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("");
        lines.add("# Written by Tidemark restore " + request.restoreId() + " of backup " + manifest.backupId() + " at " + Instant.now());
        lines.add("port = " + request.port());
        // a quoted value of postgresql.conf takes backslash escapes and doubled quotes
        lines.add("restore_command = '" + restoreCommand.replace("\\", "\\\\").replace("'", "''") + "'");
        // PostgreSQL keeps microseconds and does not parse an ISO instant with nanoseconds
        if (stopAt.isPresent()) {
            // right after the last commit at or before the target time, and nothing of what followed it (WalScan)
            lines.add("# target " + request.targetTime().orElseThrow() + ": the end of the last commit at or before it");
            lines.add("recovery_target_lsn = '" + stopAt.get() + "'");
        } else {
            request.targetTime().ifPresent(t -> lines.add("recovery_target_time = '" + java.time.format.DateTimeFormatter
                    .ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSS").withZone(java.time.ZoneOffset.UTC).format(t) + "+00'"));
        }
        // PostgreSQL ends a recovery that promotes by itself at its target with a checkpoint it waits for (every
        // page the replay dirtied written and synced before the first connection); paused at the target and then
        // promoted (pg_ctl promote) it writes an end-of-recovery record instead and checkpoints in the background,
        // as a promoted standby does. A paused recovery takes a promotion from PostgreSQL 13 on; older servers promote themselves.
        serverVersionNum = manifest.serverVersionNum();
        promoteAtTarget = request.targetTime().isPresent() && manifest.serverVersionNum() >= 130000;
        lines.add("recovery_target_action = '" + (promoteAtTarget ? "pause" : "promote") + "'");
        lines.add("recovery_target_timeline = 'latest'");
        // a time target keeps the commits at the target; an LSN target stops before the record at that position
        lines.add("recovery_target_inclusive = " + (stopAt.isPresent() ? "off" : "on"));
        lines.add("archive_mode = off");
        lines.add("archive_command = ''");
        lines.add("primary_conninfo = ''");
        lines.add("primary_slot_name = ''");
        lines.add("hot_standby = on");
        // the engine follows the recovery in the server's log (its stop, its pauses, its end): in English, to the file
        // the restore names, with the lines it reads, whatever the source's logging settings
        lines.add("logging_collector = off");
        lines.add("log_destination = 'stderr'");
        lines.add("lc_messages = 'C'");
        lines.add("log_min_messages = warning");
        // lines the restore trusts start with a secret of its own (RecoveryLog): a client cannot forge them
        logTag = RecoveryLog.newTag();
        lines.add("log_line_prefix = '" + RecoveryLog.prefix(logTag) + "'");
        if (manifest.serverVersionNum() >= 140000) {
            // the restored files are not yet durable: one syncfs of the file system instead of an fsync per file
            lines.add("recovery_init_sync_method = syncfs");
        }
        Files.write(target.resolve("postgresql.auto.conf"), lines, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        Files.deleteIfExists(target.resolve("standby.signal"));
        Files.writeString(target.resolve("recovery.signal"), "");
    }

    /** The settings the restore wrote that serve the recovery only; its port and raised settings stay. */
    private static final Pattern RECOVERY_ONLY = Pattern.compile(
            "\\s*(restore_command|recovery_target\\w*|recovery_init_sync_method|logging_collector|log_destination|lc_messages"
                    + "|log_min_messages|log_line_prefix)\\s*=.*");
    /**
     * What else an in-place restore wrote and takes back: the database is the production one again, with its own
     * archiving and replication settings. A copy beside keeps them off: it must never archive into, or follow, the
     * source's archive or primary.
     */
    private static final Pattern IN_PLACE_ONLY = Pattern.compile(
            "\\s*(archive_mode|archive_command|primary_conninfo|primary_slot_name|hot_standby)\\s*=.*");

    /**
     * Once recovery has ended, the recovery settings the restore added to postgresql.auto.conf go: the spool its
     * restore_command names is gone. An in-place restore also takes back archiving and replication off (the production
     * database's own settings apply again at its next start); a copy beside keeps them off.
     * The server keeps running with what it loaded; the next start reads the configuration as it was, plus the port.
     */
    private void removeRecoverySettings(Request request, Path target) {
        Path auto = target.resolve("postgresql.auto.conf");
        try {
            List<String> lines = Files.readAllLines(auto, StandardCharsets.UTF_8);
            String marker = "# Written by Tidemark restore " + request.restoreId() + " ";
            int from = -1;
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).startsWith(marker)) {
                    from = i;
                }
            }
            if (from < 0) {
                return;
            }
            List<String> kept = new ArrayList<>(lines.subList(0, from));
            kept.add(lines.get(from).replace("# Written by", request.inPlace()
                    ? "# Port (and any setting raised for the WAL) written by"
                    : "# Port, archiving and replication off (a copy must not archive into its source's archive or follow its"
                    + " primary; set them to turn them on), and any setting raised for the WAL, written by")
                    + "; its recovery settings were removed when recovery ended");
            for (String line : lines.subList(from + 1, lines.size())) {
                if (!RECOVERY_ONLY.matcher(line).matches() && !(request.inPlace() && IN_PLACE_ONLY.matcher(line).matches())) {
                    kept.add(line);
                }
            }
            Path fresh = auto.resolveSibling("postgresql.auto.conf.tidemark");
            Files.write(fresh, kept, StandardCharsets.UTF_8);
            Files.setPosixFilePermissions(fresh, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            servers.at(target).user().ownOne(fresh);
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(fresh, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Files.move(fresh, auto, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            log.warn("restore {}: could not remove its recovery settings from {} ({}): remove the lines after \"{}\" that name"
                    + " restore_command and recovery_target_*", request.restoreId(), auto, e.getMessage(), "Tidemark restore");
        }
    }

    /**
     * Starts PostgreSQL on the restored directory and waits until recovery has ended. PostgreSQL stops at a target time
     * only when it meets a commit after it; when the archived WAL covers the target but has no commit after it (a quiet
     * moment near the end of the window), the state at the target is the end of the archive: recovery is resumed without
     * the target and says so. When the WAL was written under a higher setting than the backup's configuration carries
     * (max_connections raised on the source after the backup, for one), PostgreSQL refuses to go on; the restored
     * configuration takes the source's value and recovery resumes.
     */
    private Result recover(Request request, PgServer server, Path target, Path logFile, Path movedAside, WalSpool wal)
            throws IOException, InterruptedException {
        boolean targetIsEnd = false;
        for (int attempt = 1; ; attempt++) {
            try {
                return recoverOnce(request, server, target, logFile, movedAside, targetIsEnd);
            } catch (IOException e) {
                Map<String, String> raise = settingsBelowSource(logFile);
                List<String> lines = new ArrayList<>();
                if (!raise.isEmpty() && attempt <= 4) {
                    log.info("restore {}: the WAL was written with {} higher than the backup's configuration has; raising {} and "
                            + "resuming recovery", request.restoreId(), raise, raise.size() == 1 ? "it" : "them");
                    raise.forEach((name, value) -> lines.add(name + " = " + value));
                } else if (!targetIsEnd && request.targetTime().isPresent()
                        && logMentions(logFile, "recovery ended before configured recovery target was reached")) {
                    requireNoHole(wal, request);
                    log.info("restore {}: no commit after {} in the archived WAL: the state at the target is the end of the archive; "
                            + "resuming recovery to it", request.restoreId(), request.targetTime().get());
                    lines.add("recovery_target_time = ''");
                    lines.add("recovery_target_lsn = ''");
                    targetIsEnd = true;
                } else {
                    throw e;
                }
                server.stopImmediately();
                Files.move(logFile, logFile.resolveSibling(logFile.getFileName() + "." + attempt), StandardCopyOption.REPLACE_EXISTING);
                Files.write(target.resolve("postgresql.auto.conf"), lines, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
            }
        }
    }

    /**
     * PostgreSQL reports the end of the archive the same way whether it is the end or a hole in it: the recovery
     * stopped short when it asked for a segment the archive lacks while holding later ones.
     */
    private static void requireNoHole(WalSpool wal, Request request) throws IOException {
        Optional<String> missing = wal.missingSegment();
        if (missing.isPresent()) {
            throw new IOException("WAL segment " + missing.get() + " is missing from the repository although later WAL is there:"
                    + " the recovery stopped at it, short of " + request.targetTime().map(Instant::toString).orElse("the end of the archive")
                    + "; restore to a time before it (see 'tidemark window " + request.databaseId() + "') and find out what removed"
                    + " it from the repository");
        }
    }

    /** PostgreSQL's own words, in 12-17, for a setting lower than the one the WAL was written under. */
    private static final Pattern SETTING_BELOW_SOURCE = Pattern.compile(
            "(\\w+) = (\\d+) is a lower setting than on the (?:primary|master) server(?:, where its value was| \\(its value was) (\\d+)");

    private Map<String, String> settingsBelowSource(Path logFile) {
        Map<String, String> raise = new TreeMap<>();
        for (java.util.regex.MatchResult m : RecoveryLog.read(logFile, logTag).all(SETTING_BELOW_SOURCE)) {
            raise.put(m.group(1), m.group(3));
        }
        return raise;
    }

    /** Whether a message of the recovering server itself starts with text (never what a client put in the log). */
    private boolean logMentions(Path logFile, String text) {
        return RecoveryLog.read(logFile, logTag).has(text);
    }

    private Result recoverOnce(Request request, PgServer server, Path target, Path logFile, Path movedAside, boolean targetIsEnd)
            throws IOException, InterruptedException {
        Files.deleteIfExists(logFile);
        // the server's log can quote row values: for the server's user alone (pg_ctl would make it readable by all)
        Files.createFile(logFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        server.user().ownOne(logFile);
        try {
            server.start(logFile, request.startTimeout());
        } catch (IOException e) {
            throw new IOException("PostgreSQL could not start on the restored directory: " + failureFromLog(logFile)
                    + " (server log: " + logFile + ")", e);
        }
        long deadline = System.nanoTime() + request.startTimeout().toNanos();
        Properties props = new Properties();
        props.setProperty("user", request.superuser());
        if (request.password() != null && server.postmasterPid().filter(pid -> LoopbackListener.heldBy(pid, request.port())).isPresent()) {
            // the restored copy has the source's roles and pg_hba.conf: the role's password as it was at the target. Only
            // when the postmaster this restore started (its PID from the copy's postmaster.pid, in a directory only the
            // server's user writes) itself holds the listener of 127.0.0.1:port: then 127.0.0.1:port reaches it and no
            // other process (LoopbackListener). Otherwise no password is sent, and the recovery is followed in its log
            props.setProperty("password", request.password());
        } else if (request.password() != null) {
            log.warn("restore {}: the server it started does not itself listen on 127.0.0.1:{} (its listen_addresses leave it out,"
                    + " or another process holds it): the password is not sent there", request.restoreId(), request.port());
        }
        String url = "jdbc:postgresql://127.0.0.1:" + request.port() + "/postgres";
        Connection c = null; // one session polls (a new one every 50 ms would fork a backend each time)
        boolean promoteSent = false;
        String refused = null; // why the restored server does not let the engine in: then its log is followed instead
        try {
            while (true) {
                requireNotCancelled();
                if (!server.isRunning()) {
                    throw new IOException("recovery failed: " + failureFromLog(logFile) + " (server log: " + logFile + ")");
                }
                if (refused != null) {
                    RecoveryLog serverLog = RecoveryLog.read(logFile, logTag);
                    Optional<Result> ended = endedInLog(request, target, serverLog, movedAside, targetIsEnd);
                    if (ended.isPresent()) {
                        return ended.get();
                    }
                    if (!promoteSent && pausedAtTargetInLog(serverLog, logFile, targetIsEnd)) {
                        log.info("restore {}: target reached, promoting", request.restoreId());
                        server.promote();
                        promoteSent = true;
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IOException("recovery did not finish within " + request.startTimeout().toSeconds() + " s (server log: "
                                + logFile + ")");
                    }
                    Thread.sleep(100);
                    continue;
                }
                try {
                    if (c == null || c.isClosed()) {
                        c = DriverManager.getConnection(url, props);
                    }
                    try (Statement st = c.createStatement();
                         ResultSet rs = st.executeQuery("select pg_is_in_recovery(), pg_last_xact_replay_timestamp(),"
                                 + " pg_last_wal_replay_lsn()::text, (select timeline_id from pg_control_checkpoint()), "
                                 + (serverVersionNum >= 100000
                                 ? "case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end" : "false"))) {
                        rs.next();
                        if (rs.getBoolean(5) && !promoteSent) {
                            // paused: at the target when the server said it stopped there; any other pause (a setting
                            // lower than on the source server, for one) is not a state to hand over
                            if (!promoteAtTarget || targetIsEnd || !logMentions(logFile, "recovery stopping ")) {
                                throw new IOException("recovery paused before reaching the target: " + failureFromLog(logFile)
                                        + " (server log: " + logFile + ")");
                            }
                            log.info("restore {}: target reached, promoting", request.restoreId());
                            server.promote(); // pg_ctl promote: a signal, no SQL privilege needed
                            promoteSent = true;
                        }
                        if (rs.getBoolean(1) && rs.getString(3) != null && walTotal > 0) {
                            long replayed = Math.max(0, Math.min(walTotal, Lsn.parse(rs.getString(3)).value() - walStart));
                            progress.set(new BackupProgress("replaying WAL", replayed, walTotal, 0, 0, 0));
                        }
                        if (!rs.getBoolean(1)) {
                            Instant reached = rs.getTimestamp(2) == null ? null : rs.getTimestamp(2).toInstant();
                            String lsn = rs.getString(3);
                            boolean stopped = targetIsEnd || logMentions(logFile, "recovery stopping ");
                            int timeline = timelineOf(c);
                            List<String> prepared = preparedTransactions(c);
                            String summary = summary(request, target, reached, "no transaction replayed after the backup", targetIsEnd,
                                    stopped, timeline)
                                    + (prepared.isEmpty() ? "" : "; " + prepared.size() + " prepared transaction(s) came with it, as"
                                    + " they were at the target (" + String.join(", ", prepared.subList(0, Math.min(10, prepared.size())))
                                    + (prepared.size() > 10 ? ", ..." : "") + "): end each with COMMIT PREPARED or"
                                    + " ROLLBACK PREPARED on the copy");
                            return new Result(target, request.port(), reached, lsn, timeline, stopped, movedAside, summary);
                        }
                    }
                } catch (SQLException e) {
                    // not accepting connections yet, or in a restart: connect again and keep polling until the deadline
                    closeQuietly(c);
                    c = null;
                    String state = e.getSQLState() == null ? "" : e.getSQLState();
                    if (state.startsWith("28") || state.equals("08004")) {
                        // the source's pg_hba.conf and roles came with the copy: a password the engine lacks, or no
                        // entry for it from 127.0.0.1. That is the copy's business, not a failure of the restore
                        refused = e.getMessage();
                        log.info("restore {}: the restored server does not let the engine in as {} ({}); following its recovery"
                                + " through its log", request.restoreId(), request.superuser(), refused);
                        continue;
                    }
                    if (!settingsBelowSource(logFile).isEmpty()) {
                        // paused before it was consistent (so not accepting connections): the caller raises the setting
                        throw new IOException("recovery paused: " + failureFromLog(logFile));
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException("recovery did not finish within " + request.startTimeout().toSeconds() + " s (server log: "
                            + logFile + ")");
                }
                Thread.sleep(50);
            }
        } finally {
            closeQuietly(c);
        }
    }

    private static final Pattern LAST_TRANSACTION = Pattern.compile("last completed transaction was at log time (\\S+ \\S+)");
    private static final Pattern REDO_DONE = Pattern.compile("redo done at ([0-9A-F]+/[0-9A-F]+)");
    private static final Pattern NEW_TIMELINE = Pattern.compile("selected new timeline ID: (\\d+)");
    private static final java.time.format.DateTimeFormatter LOG_TIME = new java.time.format.DateTimeFormatterBuilder()
            .appendPattern("yyyy-MM-dd HH:mm:ss").optionalStart().appendFraction(java.time.temporal.ChronoField.NANO_OF_SECOND, 0, 9, true)
            .optionalEnd().parseLenient().appendOffset("+HH:MM", "+00").toFormatter(); // "+01", "+05:30"

    /**
     * For a recovery the engine cannot connect to: whether the server's log says it paused at the target (to be
     * promoted); a pause for any other reason fails the restore.
     */
    private boolean pausedAtTargetInLog(RecoveryLog serverLog, Path logFile, boolean targetIsEnd) throws IOException {
        if (!serverLog.has("pausing at the end of recovery") && !serverLog.has("recovery has paused")) {
            return false;
        }
        if (!promoteAtTarget || targetIsEnd || !serverLog.has("recovery stopping ")) {
            throw new IOException("recovery paused before reaching the target: " + failureFromLog(logFile) + " (server log: "
                    + logFile + ")");
        }
        return true;
    }

    /**
     * For a recovery the engine cannot connect to: once the server's log says it accepts connections (promoted), what
     * it reached, read from the log; empty while it runs.
     */
    private Optional<Result> endedInLog(Request request, Path target, RecoveryLog serverLog, Path movedAside, boolean targetIsEnd) {
        if (!serverLog.has("database system is ready to accept connections")) {
            return Optional.empty();
        }
        Instant reached = serverLog.last(LAST_TRANSACTION).map(m -> {
            try {
                return java.time.OffsetDateTime.parse(m.group(1), LOG_TIME).toInstant();
            } catch (java.time.format.DateTimeParseException e) {
                return null;
            }
        }).orElse(null);
        String lsn = serverLog.last(REDO_DONE).map(m -> m.group(1)).orElse(null);
        int timeline = serverLog.last(NEW_TIMELINE).map(m -> Integer.parseInt(m.group(1))).orElse(0);
        boolean stopped = targetIsEnd || serverLog.has("recovery stopping ");
        String summary = summary(request, target, reached, "no transaction time in the server's log", targetIsEnd, stopped, timeline)
                + " (followed through the server's log: the copy does not let the engine in as " + request.superuser() + ")";
        return Optional.of(new Result(target, request.port(), reached, lsn, timeline, stopped, movedAside, summary));
    }

    /** What a restore reached, against its target, for its result. */
    private static String summary(Request request, Path target, Instant reached, String noTime, boolean targetIsEnd, boolean stopped,
                                  int timeline) {
        return "restored " + request.databaseId() + " into " + target + " (port " + request.port() + "), "
                + (reached == null ? noTime : "last transaction replayed from " + reached)
                + (request.targetTime().isEmpty() ? ", end of the archived WAL reached"
                : targetIsEnd ? ", no commit between it and target " + request.targetTime().get() + " in the archive: the state at the target"
                : stopped ? ", target " + request.targetTime().get() + " reached"
                : ", the archive ends before target " + request.targetTime().get() + ": restored to its end")
                + ", now on timeline " + timeline;
    }

    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // the server went away
            }
        }
    }

    /** The GIDs of the prepared transactions of the copy. */
    private static List<String> preparedTransactions(Connection c) throws SQLException {
        List<String> gids = new ArrayList<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select gid from pg_prepared_xacts order by prepared")) {
            while (rs.next()) {
                gids.add("'" + rs.getString(1).replace("'", "''") + "'"); // as COMMIT PREPARED takes it
            }
        }
        return gids;
    }

    private static int timelineOf(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static String failureFromLog(Path logFile) {
        try {
            List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
            List<String> telling = lines.stream().filter(l -> l.contains("FATAL") || l.contains("PANIC") || l.contains("ERROR")
                    || l.contains("invalid") || l.contains("could not")).toList();
            if (telling.isEmpty()) {
                return lines.isEmpty() ? "no server log" : lines.get(lines.size() - 1);
            }
            return String.join(" | ", telling.subList(Math.max(0, telling.size() - 3), telling.size()));
        } catch (IOException e) {
            return "no server log (" + e.getMessage() + ")";
        }
    }

    private Path resolve(Request request, BackupManifest manifest, Path target, String path) {
        if (path.contains("..") || path.startsWith("/")) {
            throw new IllegalStateException("manifest path '" + path + "' leaves the data directory: the manifest is not trustworthy");
        }
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            String root = "pg_tblspc/" + ts.oid();
            if (path.startsWith(root + "/")) {
                return tablespaceLocation(request, target, ts).resolve(path.substring(root.length() + 1));
            }
        }
        return target.resolve(path);
    }

    private static boolean isTablespaceRoot(BackupManifest manifest, String path) {
        return manifest.tablespaces().stream().anyMatch(ts -> path.equals("pg_tblspc/" + ts.oid()));
    }

    /** In place: the tablespace's own location. Beside: a directory next to the new data directory. */
    private static Path tablespaceLocation(Request request, Path target, BackupManifest.Tablespace ts) {
        if (request.inPlace()) {
            return Path.of(ts.location());
        }
        return target.resolveSibling(target.getFileName() + ".tablespaces").resolve(ts.oid());
    }

    private static String name(String key) {
        return key.substring(key.lastIndexOf('/') + 1);
    }

    private static boolean portFree(int port) {
        for (InetAddress address : new InetAddress[]{InetAddress.getLoopbackAddress()}) {
            try (ServerSocket s = new ServerSocket()) {
                // as PostgreSQL does: connections of a just-stopped server in TIME_WAIT do not make the port busy
                s.setReuseAddress(true);
                s.bind(new InetSocketAddress(address, port));
            } catch (IOException e) {
                return false;
            }
        }
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> p = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] order = {PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_READ,
                PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
                PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_READ};
        for (int i = 0; i < order.length; i++) {
            if ((mode & (1 << i)) != 0) {
                p.add(order[i]);
            }
        }
        return p;
    }

    /** The WAL spool of a restore into target (beside it: it also claims the target). */
    public static Path spoolOf(Path target) {
        return target.resolveSibling(target.getFileName() + ".tidemark-wal");
    }

    /** Removes the spool of a restore that failed or was abandoned, so that a recovery still running aborts. */
    public static void abandonSpool(Path target) {
        WalSpool.remove(spoolOf(target));
    }

    /** Creates dir and its missing parents, noting each directory made in created. */
    private static void createDirectoriesNoted(Path dir, List<Path> created) throws IOException {
        List<Path> missing = new ArrayList<>();
        for (Path p = dir; p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS); p = p.getParent()) {
            missing.add(p);
        }
        for (Path p : missing.reversed()) {
            created.add(Files.createDirectory(p));
        }
    }

    /** Removes what is in dir, not dir itself; a dir replaced by a symbolic link is left alone. */
    private static void emptyDirectory(Path dir) {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> children = Files.list(dir)) {
            children.toList().forEach(RestoreRunner::deleteTree);
        } catch (IOException e) {
            log.warn("could not empty {}: {}", dir, e.getMessage());
        }
    }

    /** Removes a tree without following a symbolic link anywhere in it: a link (root too) is removed, not its target. */
    public static void deleteTree(Path root) {
        if (root == null || !Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            log.warn("could not remove {}: {}", root, e.getMessage());
        }
    }

}
