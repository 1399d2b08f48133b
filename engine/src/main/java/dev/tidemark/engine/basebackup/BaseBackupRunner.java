package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.postgres.DataDirectoryIdentity;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.ServerLayout;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.StoredObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Takes one base backup: pg_backup_start and pg_backup_stop on one held session, the data directory read by
 * parallel workers (read, page checks, file checksum, codec, upload), small files bundled, the manifest written last
 * and only once the WAL up to the stop position is durable. On failure every object it wrote is removed.
 */
public final class BaseBackupRunner {
    private static final Logger log = LoggerFactory.getLogger(BaseBackupRunner.class);

    /**
     * Settings of one run: parallel workers, fast checkpoint, bundle sizing, how long to wait for WAL and the file
     * checksum. bundleBytes: small files are packed into objects of about this size; ownObjectBytes: a file this large
     * gets an object of its own; pieceBytes: a file larger than this is kept in pieces of this size (a multiple of
     * 8 KiB), so that one large relation segment is copied and restored by every worker, not one; fileChecksum: what
     * each file's (or piece's) bytes are checksummed with (SHA-256 unless told; the job chooses by the repository).
     */
    public record Settings(int workers, boolean fastCheckpoint, long bundleBytes, long ownObjectBytes, long pieceBytes, Duration walWait,
                           FileChecksum fileChecksum) {
        public static Settings defaults() {
            return new Settings(Math.max(1, Runtime.getRuntime().availableProcessors()), true, 16L << 20, 4L << 20, 64L << 20,
                    Duration.ofMinutes(5), FileChecksum.SHA256);
        }

        public Settings withWorkers(int n) {
            return new Settings(Math.max(1, n), fastCheckpoint, bundleBytes, ownObjectBytes, pieceBytes, walWait, fileChecksum);
        }

        public Settings withPieceBytes(long bytes) {
            if (bytes <= 0 || bytes % PageChecksum.PAGE_SIZE != 0) {
                throw new IllegalArgumentException("piece size " + bytes + " is not a positive multiple of 8 KiB");
            }
            return new Settings(workers, fastCheckpoint, bundleBytes, ownObjectBytes, bytes, walWait, fileChecksum);
        }

        public Settings withFileChecksum(FileChecksum checksum) {
            return new Settings(workers, fastCheckpoint, bundleBytes, ownObjectBytes, pieceBytes, walWait, checksum);
        }
    }

    /** What a finished backup recorded: the manifest, where it is, and its checksum. */
    public record Result(BackupManifest manifest, String manifestKey, String manifestSha256, long storedBytes) {
    }

    private final Repository repository;
    private final Settings settings;
    private final AtomicReference<BackupProgress> progress = new AtomicReference<>(BackupProgress.starting("queued"));

    public BaseBackupRunner(Repository repository, Settings settings) {
        this.repository = repository;
        this.settings = settings;
    }

    public BackupProgress progress() {
        return progress.get();
    }

    /** Backs up the server at source whose data directory is pgdata (on this host) into databaseId/backupId. */
    public Result run(String databaseId, String backupId, PgConnections source, Path pgdata, DurableWal wal) throws IOException, InterruptedException {
        String prefix = repository.layout().baseBackupPrefix(databaseId, backupId);
        boolean done = false;
        try (Connection session = source.open()) {
            Result result = take(databaseId, backupId, session, pgdata, wal);
            done = true;
            return result;
        } catch (SQLException e) {
            throw new IOException("base backup " + backupId + " of " + databaseId + " failed talking to the server at "
                    + source.url() + ": " + e.getMessage(), e);
        } finally {
            if (!done) {
                progress.set(BackupProgress.starting("failed"));
                removeQuietly(prefix);
            }
        }
    }

    private Result take(String databaseId, String backupId, Connection session, Path pgdata, DurableWal wal)
            throws SQLException, IOException, InterruptedException {
        int versionNum;
        boolean standby;
        boolean checksums;
        String systemId;
        long segmentSize;
        ServerQueries queries = new ServerQueries(session);
        ServerQueries.BackupSettings server = queries.backupSettings();
        versionNum = server.versionNum();
        standby = server.inRecovery();
        checksums = server.dataChecksums();
        systemId = server.systemId();
        segmentSize = server.walSegmentSize();
        // the files copied must be the server's own: a backup of another directory would complete and never restore
        String mismatch = DataDirectoryIdentity.mismatch(pgdata, systemId, server.port(), session);
        if (mismatch != null) {
            throw new IOException("the data directory to copy is not the server's: " + mismatch);
        }
        Optional<ServerLayout> layout = layout(session, backupId);
        String chain = systemId + "-" + (versionNum / 10000);
        Instant startTime = Instant.now();
        progress.set(BackupProgress.starting("checkpoint"));
        long t0 = System.nanoTime();
        Lsn startLsn = queries.backupStart("tidemark " + backupId, settings.fastCheckpoint(), versionNum);
        log.info("base backup {} of {} started at {} ({}, {} workers)", backupId, databaseId, startLsn,
                standby ? "from the standby" : "from the primary", settings.workers());

        DataDirectoryScan.Result scan = DataDirectoryScan.withExternal(DataDirectoryScan.scan(pgdata),
                layout.map(ServerLayout::outsideDataDirectory).orElse(List.of()));
        long t1 = System.nanoTime();
        Copy copy = copyFiles(databaseId, backupId, scan, checksums, startLsn);
        long t2 = System.nanoTime();

        progress.set(new BackupProgress("stopping", copy.bytes, scan.totalBytes(), copy.files.size(), copy.files.size(), 0));
        ServerQueries.BackupStop stop = queries.backupStop(versionNum);
        Lsn stopLsn = stop.lsn();
        String label = stop.label();
        String spcmap = stop.tablespaceMap();
        Instant consistency = queries.clock();
        int timeline = timelineOf(label);
        long t3 = System.nanoTime();

        progress.set(new BackupProgress("waiting for WAL", copy.bytes, scan.totalBytes(), copy.files.size(), copy.files.size(), 0));
        if (!wal.awaitDurable(chain, timeline, stopLsn, settings.walWait())) {
            throw new IOException("WAL up to the backup's stop position " + stopLsn + " did not become durable in the repository within "
                    + settings.walWait().toSeconds() + " s: check that WAL streaming of " + databaseId + " is running");
        }
        long t4 = System.nanoTime();

        BackupManifest.Configuration configuration = layout.map(BaseBackupRunner::configuration).orElse(null);
        int format = settings.fileChecksum() == FileChecksum.XXH64 ? BackupManifest.FORMAT_VERSION
                : configuration != null && configuration.hasExternal() ? BackupManifest.FORMAT_WITH_EXTERNAL_CONFIG
                : BackupManifest.FORMAT_WITHOUT_EXTERNAL_CONFIG;
        BackupManifest manifest = new BackupManifest(format, databaseId, backupId, chain, systemId,
                versionNum, timeline, segmentSize, startLsn.toString(), stopLsn.toString(), startTime, consistency, standby, checksums,
                label, spcmap == null || spcmap.isBlank() ? null : spcmap, scan.tablespaces(), copy.objects, copy.files,
                copy.badPages, copy.bytes, configuration);
        String manifestKey = repository.layout().baseBackupManifest(databaseId, backupId);
        StoredObject stored = repository.putEncoded(manifestKey, new ByteArrayInputStream(manifest.toJson()));
        long storedBytes = copy.objects.stream().mapToLong(BackupManifest.BundleObject::storedBytes).sum() + stored.storedBytes();
        progress.set(new BackupProgress("done", copy.bytes, copy.bytes, copy.files.size(), copy.files.size(), 0));
        log.info("base backup {} of {} complete: {} files, {} MiB read, {} MiB stored, {} objects, stop {}, consistent at {}{}"
                        + " (start and checkpoint {} ms, copy {} ms, stop {} ms, WAL {} ms, manifest {} ms; {} checksums)",
                backupId, databaseId, copy.files.size(), copy.bytes >> 20, storedBytes >> 20, copy.objects.size() + 1, stopLsn,
                consistency, copy.badPages.isEmpty() ? "" : ", " + copy.badPages.size() + " BAD PAGES", millis(t0, t1), millis(t1, t2),
                millis(t2, t3), millis(t3, t4), millis(t4, System.nanoTime()), settings.fileChecksum());
        return new Result(manifest, manifestKey, stored.sha256Hex(), storedBytes);
    }

    /**
     * Where the server keeps its configuration, asked on the backup's own session; empty (with a warning) when the role
     * may not read the settings, as before layouts were recorded.
     */
    private static Optional<ServerLayout> layout(Connection session, String backupId) throws IOException {
        try {
            ServerLayout layout = ServerLayout.detect(session);
            log.info("base backup {}: {}", backupId, layout.describe());
            return Optional.of(layout);
        } catch (SQLException e) {
            log.warn("base backup {}: cannot ask the server where its configuration files are ({}): configuration outside the"
                    + " data directory is not backed up; grant pg_read_all_settings to the role", backupId, e.getMessage());
            return Optional.empty();
        }
    }

    private static BackupManifest.Configuration configuration(ServerLayout layout) {
        return new BackupManifest.Configuration(layout.dataDirectory().toString(), layout.configFile().toString(),
                layout.hbaFile().toString(), layout.identFile().toString(),
                layout.outsideDataDirectory().stream().map(Path::toString).toList(),
                layout.debian().map(ServerLayout.DebianCluster::version).orElse(null),
                layout.debian().map(ServerLayout.DebianCluster::name).orElse(null));
    }

    private record Copy(List<BackupManifest.FileEntry> files, List<BackupManifest.BundleObject> objects,
                        List<BackupManifest.BadPage> badPages, long bytes) {
    }

    private Copy copyFiles(String databaseId, String backupId, DataDirectoryScan.Result scan, boolean checksums, Lsn startLsn)
            throws IOException, InterruptedException {
        List<BackupManifest.FileEntry> entries = Collections.synchronizedList(new ArrayList<>());
        List<BackupManifest.BadPage> badPages = Collections.synchronizedList(new ArrayList<>());
        List<DataDirectoryScan.Item> regular = new ArrayList<>();
        for (DataDirectoryScan.Item item : scan.items()) {
            if (item.type() == 'f') {
                regular.add(item);
            } else {
                entries.add(new BackupManifest.FileEntry(item.path(), item.type(), 0, item.mode(), item.mtime(), null, -1, 0,
                        item.linkTarget(), 0, null));
            }
        }
        List<List<Part>> units = plan(regular);
        AtomicLong bytesDone = new AtomicLong();
        AtomicLong filesDone = new AtomicLong();
        long started = System.nanoTime();
        List<BackupManifest.BundleObject> objects = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(settings.workers(), r -> {
            Thread t = new Thread(r, "basebackup-" + backupId);
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < units.size(); i++) {
                int number = i;
                List<Part> unit = units.get(i);
                futures.add(pool.submit(() -> {
                    objects.add(copyUnit(databaseId, backupId, number, unit, checksums, startLsn, entries, badPages, bytes -> {
                        long done = bytesDone.addAndGet(bytes);
                        double secs = Math.max(1e-3, (System.nanoTime() - started) / 1e9);
                        progress.set(new BackupProgress("copying", done, scan.totalBytes(), filesDone.get(), regular.size(), done / secs));
                    }, filesDone));
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    futures.forEach(other -> other.cancel(true));
                    Throwable cause = e.getCause();
                    if (cause instanceof IOException io) {
                        throw io;
                    }
                    throw new IOException("copying the data directory failed: " + cause.getMessage(), cause);
                }
            }
        } finally {
            Workers.stopAndWait(pool);
        }
        List<BackupManifest.FileEntry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparing(BackupManifest.FileEntry::path).thenComparingLong(BackupManifest.FileEntry::fileOffset));
        List<BackupManifest.BundleObject> sortedObjects = new ArrayList<>(objects);
        sortedObjects.sort(Comparator.comparingInt(BackupManifest.BundleObject::number));
        return new Copy(sorted, sortedObjects, new ArrayList<>(badPages), bytesDone.get());
    }

    /** Bytes of one file: from a position, a length of them or (length -1) up to its end. */
    private record Part(DataDirectoryScan.Item item, long from, long length) {
        boolean last() {
            return length < 0;
        }
    }

    /**
     * Large files get an object each, and the largest are cut into pieces; small ones are packed into bundles, so
     * 100,000 small files are not 100,000 requests.
     */
    private List<List<Part>> plan(List<DataDirectoryScan.Item> files) {
        List<DataDirectoryScan.Item> bySize = new ArrayList<>(files);
        bySize.sort(Comparator.comparingLong(DataDirectoryScan.Item::size).reversed().thenComparing(DataDirectoryScan.Item::path));
        List<List<Part>> units = new ArrayList<>();
        List<Part> bundle = new ArrayList<>();
        long bundleBytes = 0;
        for (DataDirectoryScan.Item f : bySize) {
            if (f.size() >= settings.ownObjectBytes()) {
                long from = 0;
                // the last piece reads to the end, whatever the file grew to since the scan
                while (f.size() - from > settings.pieceBytes()) {
                    units.add(List.of(new Part(f, from, settings.pieceBytes())));
                    from += settings.pieceBytes();
                }
                units.add(List.of(new Part(f, from, -1)));
                continue;
            }
            if (!bundle.isEmpty() && bundleBytes + f.size() > settings.bundleBytes()) {
                units.add(bundle);
                bundle = new ArrayList<>();
                bundleBytes = 0;
            }
            bundle.add(new Part(f, 0, -1));
            bundleBytes += f.size();
        }
        if (!bundle.isEmpty()) {
            units.add(bundle);
        }
        return units;
    }

    private interface BytesListener {
        void copied(long bytes);
    }

    private BackupManifest.BundleObject copyUnit(String databaseId, String backupId, int number, List<Part> unit,
                                                 boolean checksums, Lsn startLsn, List<BackupManifest.FileEntry> entries,
                                                 List<BackupManifest.BadPage> badPages, BytesListener listener, AtomicLong filesDone)
            throws IOException {
        String key = repository.layout().baseBackupBundle(databaseId, backupId, number);
        ByteBuffer buffer = ByteBuffer.allocate(256 * 1024);
        MessageDigest digest = settings.fileChecksum().newDigest();
        // every file (and piece) gets its own checksum here: the bundle as a whole is not hashed again
        try (Repository.EncodingWriter out = repository.openEncoded(key, false)) {
            long offset = 0;
            for (Part part : unit) {
                DataDirectoryScan.Item item = part.item();
                long size;
                try {
                    size = copyFile(part, out, buffer, digest, checksums, startLsn, badPages, listener);
                } catch (NoSuchFileException e) {
                    if (part.last()) {
                        filesDone.incrementAndGet();
                    }
                    continue; // removed by PostgreSQL during the copy: WAL replay recreates what is needed
                }
                if (size == 0 && part.from() > 0) {
                    continue; // the file shrank below this piece since the scan: nothing to keep
                }
                String checksum = HexFormat.of().formatHex(digest.digest());
                boolean xxh64 = settings.fileChecksum() == FileChecksum.XXH64;
                entries.add(new BackupManifest.FileEntry(item.path(), 'f', size, item.mode(), item.mtime(), xxh64 ? null : checksum,
                        number, offset, null, part.from(), xxh64 ? checksum : null));
                offset += size;
                if (part.last()) {
                    filesDone.incrementAndGet();
                }
            }
            StoredObject stored = out.commit();
            return new BackupManifest.BundleObject(number, key, stored.sha256Hex(), stored.plainBytes(), stored.storedBytes());
        }
    }

    private long copyFile(Part part, OutputStream out, ByteBuffer buffer, MessageDigest digest, boolean checksums,
                          Lsn startLsn, List<BackupManifest.BadPage> badPages, BytesListener listener) throws IOException {
        DataDirectoryScan.Item item = part.item();
        long firstBlock = checksums ? PageChecksum.firstBlock(item.path()) : -1;
        long total = 0;
        digest.reset();
        try (FileChannel ch = FileChannel.open(item.source(), StandardOpenOption.READ)) {
            ch.position(part.from());
            while (part.last() || total < part.length()) {
                buffer.clear();
                if (!part.last()) {
                    buffer.limit((int) Math.min(buffer.capacity(), part.length() - total));
                }
                int n = readFully(ch, buffer);
                if (n <= 0) {
                    break;
                }
                buffer.flip();
                if (firstBlock >= 0) {
                    checkPages(item.path(), buffer.array(), n, firstBlock + (part.from() + total) / PageChecksum.PAGE_SIZE, startLsn, badPages);
                }
                digest.update(buffer.array(), 0, n);
                out.write(buffer.array(), 0, n);
                total += n;
                listener.copied(n);
            }
        }
        return total;
    }

    private static int readFully(FileChannel ch, ByteBuffer buffer) throws IOException {
        int total = 0;
        while (buffer.hasRemaining()) {
            int n = ch.read(buffer);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    private static void checkPages(String path, byte[] data, int length, long firstBlock, Lsn startLsn, List<BackupManifest.BadPage> badPages) {
        PageChecksum.verify(data, length, firstBlock, startLsn.value(), (block, stored, computed) -> {
            badPages.add(new BackupManifest.BadPage(path, block, stored, computed));
            log.warn("page checksum mismatch in {} block {}: stored {}, computed {}", path, block, stored, computed);
        });
    }

    private static long millis(long from, long to) {
        return (to - from) / 1_000_000;
    }

    private static int timelineOf(String label) {
        for (String line : label.split("\n")) {
            if (line.startsWith("START TIMELINE:")) {
                return Integer.parseInt(line.substring("START TIMELINE:".length()).trim());
            }
        }
        return 1;
    }

    /** Removes every object under prefix; used when a backup fails or is found interrupted. */
    public void removeQuietly(String prefix) {
        try {
            int removed = repository.deleteUnder(prefix);
            if (removed > 0) {
                log.info("removed {} objects of the unfinished backup under {}", removed, prefix);
            }
        } catch (IOException e) {
            log.warn("could not remove the objects of an unfinished backup under {}: {}", prefix, e.getMessage());
        }
    }

}
