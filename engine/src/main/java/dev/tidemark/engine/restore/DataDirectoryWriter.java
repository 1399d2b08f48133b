package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.basebackup.DataDirectoryScan;
import dev.tidemark.engine.basebackup.Workers;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Writes a backup's data directory: its directories and links, then every object downloaded, decoded and unpacked in
 * parallel, each file (or piece of one) checked against its checksum, large block-aligned ones written with O_DIRECT;
 * then modes, times, backup_label and tablespace_map. In place, a file whose previous copy (in the moved-aside
 * directory) has the backup's size and time is copied from there instead, and kept only when its checksum is the
 * manifest's; an object is downloaded only for the files that were not. In place without a copy (delta,
 * DeltaInPlace), the directory is restored where it is: a file with the backup's size and time is left untouched (with
 * checksums, only when its checksum is the manifest's too), another is compared piece by piece and only the pieces that
 * differ are downloaded; a whole file is written to a temporary name, synced and renamed over, a large one's pieces at
 * their places; what the backup does not have is removed, and global/pg_control is written last. One per runner: once
 * the file system refuses O_DIRECT, the runner stops trying.
 */
final class DataDirectoryWriter {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);
    /** Files from this size on, in whole blocks, are written with O_DIRECT. */
    private static final long DIRECT_MIN_BYTES = 1 << 20;
    private static final int DIRECT_ALIGN = 4096;
    private static final ThreadLocal<ByteBuffer> DIRECT_BUFFER = ThreadLocal.withInitial(
            () -> ByteBuffer.allocateDirect((1 << 20) + DIRECT_ALIGN).alignedSlice(DIRECT_ALIGN));

    private final Repository repository;
    private final AtomicReference<BackupProgress> progress;
    private final Cancellation cancellation;
    /**
     * With {@value #BUFFERED_PROPERTY}{@code =true} every file is written through the page cache, for a benchmark's
     * side-by-side (docs/benchmarks.md); without it, large block-aligned files are written with O_DIRECT.
     */
    static final String BUFFERED_PROPERTY = "tidemark.restore.buffered-writes";
    private volatile boolean direct = !Boolean.getBoolean(BUFFERED_PROPERTY);
    /** The pool writing the data files, while it runs; stopped when the WAL scan fails. */
    private volatile ExecutorService fileWriters;
    /** Of the last write: stored bytes of the objects downloaded, and bytes of files copied from the previous data directory instead. */
    private final AtomicLong downloadedBytes = new AtomicLong();
    private final AtomicLong reusedBytes = new AtomicLong();
    /** Of the last write in place without a copy: files left as they were, files (re)written, paths removed. */
    private final AtomicLong keptFiles = new AtomicLong();
    private final AtomicLong rewrittenFiles = new AtomicLong();
    private final AtomicLong removedPaths = new AtomicLong();
    /** Of the last delta write: the files written whole (renamed over), the files written into piece by piece. */
    private final Set<String> replaced = ConcurrentHashMap.newKeySet();
    private final Set<String> writtenInto = ConcurrentHashMap.newKeySet();
    /** Of the last delta write: global/pg_control's new copy under its temporary name, renamed last. */
    private volatile Path newControlFile;
    /** Of the last delta write: what the directory held that the backup lacks, being deleted. */
    private volatile Strays strays;
    /** Of the last delta write, where its time went (summed over the workers): comparing, downloading; then settling. */
    private final AtomicLong compareNanos = new AtomicLong();
    private final AtomicLong downloadNanos = new AtomicLong();
    private final AtomicLong settleNanos = new AtomicLong();

    DataDirectoryWriter(Repository repository, AtomicReference<BackupProgress> progress, Cancellation cancellation) {
        this.repository = repository;
        this.progress = progress;
        this.cancellation = cancellation;
    }

    /** Stops the file writers: running ones are interrupted, queued ones cancelled (so nothing waits for them). */
    void stop() {
        ExecutorService writers = fileWriters;
        if (writers != null) {
            for (Runnable queued : writers.shutdownNow()) {
                if (queued instanceof Future<?> f) {
                    f.cancel(true);
                }
            }
        }
    }

    /** Stored bytes of the objects downloaded so far. */
    long downloadedBytes() {
        return downloadedBytes.get();
    }

    /** Bytes of the files copied from the previous data directory (or, delta, kept where they are) instead of downloaded. */
    long reusedBytes() {
        return reusedBytes.get();
    }

    /** Delta: files left as they were (no byte written; at most their time or mode set back to the backup's). */
    long keptFiles() {
        return keptFiles.get();
    }

    /** Delta: files written, whole or in the pieces that differed. */
    long rewrittenFiles() {
        return rewrittenFiles.get();
    }

    /** Delta: paths the backup does not have (or has as another kind), removed. */
    long removedPaths() {
        return removedPaths.get();
    }

    /** Delta: paths the backup does not have, found (a directory counting once), being removed beside the restore. */
    int strays() {
        Strays s = strays;
        return s == null ? 0 : s.found();
    }

    /** Delta: where the files' time went, for the log (the workers' compare and download times are summed over them). */
    String deltaTimes() {
        return "comparing " + compareNanos.get() / 1_000_000 + " ms and downloading "
                + downloadNanos.get() / 1_000_000 + " ms over the workers, settling " + settleNanos.get() / 1_000_000 + " ms";
    }

    /** Delta: how long deleting what the backup does not have took, beside the recovery. */
    String removeTime() {
        Strays s = strays;
        return s == null ? PhaseTimes.seconds(0) : s.movedTime();
    }

    /**
     * Writes the data directory and the tablespaces; the directories it creates outside target are added to created.
     * previous: where the copy of a manifest path in the data directory this restore replaces is (only read, never
     * changed), or null for none.
     */
    void write(RestoreRunner.Request request, BackupManifest manifest, Path target, Tablespaces tablespaces, CreatedPaths created,
               Function<String, Path> previous) throws IOException, InterruptedException {
        downloadedBytes.set(0);
        reusedBytes.set(0);
        keptFiles.set(0);
        rewrittenFiles.set(0);
        removedPaths.set(0);
        replaced.clear();
        writtenInto.clear();
        newControlFile = null;
        compareNanos.set(0);
        downloadNanos.set(0);
        settleNanos.set(0);
        boolean delta = request.delta();
        // in place the server's configuration files from outside stay where they are (ExternalConfig)
        List<BackupManifest.FileEntry> entries = manifest.files().stream()
                .filter(e -> !request.inPlace() || !BackupManifest.isExternal(e.path())).toList();
        Strays found = null;
        if (delta) {
            awaitRemoved(); // a previous write's, still deleting
            DeltaInPlace.disable(target); // first: from here the directory is not startable until the restore is done
            found = Strays.start(removeExtras(request, manifest, target, entries), target, request.restoreId(), removedPaths);
            strays = found;
        }
        // the tablespaces' directories first: the ones of the backup's directories that lie in them go inside
        tablespaces.create(created);
        for (BackupManifest.FileEntry e : entries) {
            if (e.type() == BackupManifest.FileEntry.DIRECTORY && !isTablespaceRoot(manifest, e.path())) {
                Files.createDirectories(resolve(request, manifest, target, e.path()));
            }
        }
        for (BackupManifest.FileEntry e : entries) {
            if (e.type() == 'l' && DataDirectoryScan.isEmptiedDirectory(e.path())) {
                // a backup taken before such links were recorded as directories: pg_wal (or another emptied
                // directory) linked elsewhere becomes a directory of its own, never a link into the source's
                Path dir = resolve(request, manifest, target, e.path());
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                if (e.path().equals("pg_wal")) {
                    Files.createDirectories(dir.resolve("archive_status"));
                }
            } else if (e.type() == 'l' && !(delta && Files.isSymbolicLink(resolve(request, manifest, target, e.path())))) {
                // (delta: a link already there points where the backup's does; removeExtras removed any other)
                Files.createSymbolicLink(resolve(request, manifest, target, e.path()), Path.of(e.linkTarget()));
            }
        }
        Map<Integer, List<BackupManifest.FileEntry>> byObject = entries.stream()
                .filter(e -> e.type() == BackupManifest.FileEntry.FILE)
                .collect(Collectors.groupingBy(BackupManifest.FileEntry::object, TreeMap::new, Collectors.toList()));
        long total = manifest.totalBytes();
        // a large file comes in pieces (one entry and one object each), written in parallel at their places
        Map<String, Long> entriesPerPath = entries.stream().filter(e -> e.type() == BackupManifest.FileEntry.FILE)
                .collect(Collectors.groupingBy(BackupManifest.FileEntry::path, Collectors.counting()));
        // the kernel writes one file at a time (ext4 holds the inode's lock for each buffered write, and a second
        // writer spins on it): one piece of a file at a time, while the other workers restore other files
        Map<String, Object> pieced = entriesPerPath.entrySet().stream().filter(e -> e.getValue() > 1)
                .collect(Collectors.toMap(Map.Entry::getKey, e -> new Object()));
        Map<String, Long> fileSizes = entries.stream().filter(e -> e.type() == BackupManifest.FileEntry.FILE)
                .collect(Collectors.toMap(BackupManifest.FileEntry::path, e -> e.fileOffset() + e.size(), Math::max));
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
            cancellation.check(); // cancelled before the pool existed: nothing stopped it
            List<Future<?>> futures = new ArrayList<>();
            for (BackupManifest.BundleObject object : manifest.objects()) {
                List<BackupManifest.FileEntry> inObject = new ArrayList<>(byObject.getOrDefault(object.number(), List.of()));
                inObject.sort(Comparator.comparingLong(BackupManifest.FileEntry::offset));
                futures.add(pool.submit(() -> {
                    Copied copied = n -> {
                        long done = bytes.addAndGet(n);
                        double secs = Math.max(1e-3, (System.nanoTime() - started) / 1e9);
                        progress.set(new BackupProgress("downloading", done, total, files.get(), fileCount, done / secs));
                    };
                    List<BackupManifest.FileEntry> download = inObject;
                    if (previous != null) {
                        download = new ArrayList<>();
                        for (BackupManifest.FileEntry e : inObject) {
                            if (!copyPrevious(previous.apply(e.path()), resolve(request, manifest, target, e.path()), e,
                                    fileSizes.get(e.path()), pieced.get(e.path()), copied, files)) {
                                download.add(e);
                            }
                        }
                    } else if (delta) {
                        long comparing = System.nanoTime();
                        download = new ArrayList<>();
                        for (BackupManifest.FileEntry e : inObject) {
                            if (!keepLocal(resolve(request, manifest, target, e.path()), e, fileSizes.get(e.path()),
                                    request.inPlaceMode() == RestoreRunner.InPlaceMode.DELTA_CHECKSUM, copied)) {
                                download.add(e);
                            }
                        }
                        compareNanos.addAndGet(System.nanoTime() - comparing);
                    }
                    if (!download.isEmpty()) {
                        long downloading = System.nanoTime();
                        unpack(request, manifest, target, object, download, pieced, copied, files);
                        downloadNanos.addAndGet(System.nanoTime() - downloading);
                    }
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
            if (found != null) {
                found.settleInPlace(); // not left running behind a failure's clean-up
            }
        }
        if (found != null) {
            found.awaitInPlace();
        }
        long settling = System.nanoTime();
        for (BackupManifest.FileEntry e : entries) {
            if (e.type() == BackupManifest.FileEntry.FILE && e.fileOffset() == 0 && delta) {
                settle(resolve(request, manifest, target, e.path()), e, fileSizes.get(e.path()));
            } else if (e.type() == BackupManifest.FileEntry.FILE && e.fileOffset() == 0 && pieced.containsKey(e.path())) {
                Path file = resolve(request, manifest, target, e.path());
                Files.setPosixFilePermissions(file, permissions(e.mode()));
                Files.setLastModifiedTime(file, FileTime.from(e.mtime()));
            }
        }
        for (BackupManifest.FileEntry e : entries) {
            if (e.type() == BackupManifest.FileEntry.DIRECTORY && !isTablespaceRoot(manifest, e.path())) {
                Path dir = resolve(request, manifest, target, e.path());
                Files.setPosixFilePermissions(dir, permissions(e.mode() == 0 ? 0700 : e.mode()));
            }
        }
        settleNanos.set(System.nanoTime() - settling);
        Files.writeString(target.resolve("backup_label"), manifest.backupLabel(), StandardCharsets.UTF_8);
        tablespaces.writeMap();
        if (newControlFile != null) {
            renameOver(newControlFile, target.resolve("global").resolve("pg_control"));
        }
    }

    /** Delta: waits until what the backup does not have, moved out of the data directory, is deleted (Strays.awaitMoved). */
    void awaitRemoved() throws InterruptedException {
        Strays s = strays;
        if (s != null) {
            s.awaitMoved();
        }
    }

    /** Delta: starts deleting what the backup does not have, moved out of the data directory, beside the recovery. */
    void removeBesideRecovery() {
        Strays s = strays;
        if (s != null) {
            s.deleteMovedBesideRecovery();
        }
    }

    /**
     * Delta: removes, under the data directory and the tablespaces' locations, every path of another kind than the
     * backup's, and returns every path the restore does not write (a file of the server after the backup, a dropped
     * table's, the old pg_wal's segments), for removal beside the file work. What PostgreSQL needs empty (pg_wal and the
     * like) stays, empty, as a full restore leaves it.
     */
    private List<Path> removeExtras(RestoreRunner.Request request, BackupManifest manifest, Path target, List<BackupManifest.FileEntry> entries)
            throws IOException {
        Map<Path, String> expected = new HashMap<>();
        for (BackupManifest.FileEntry e : entries) {
            if (isTablespaceRoot(manifest, e.path())) {
                continue;
            }
            Path p = resolve(request, manifest, target, e.path());
            if (e.type() == BackupManifest.FileEntry.DIRECTORY || e.type() == 'l' && DataDirectoryScan.isEmptiedDirectory(e.path())) {
                expected.put(p, "d");
                if (e.path().equals("pg_wal")) {
                    expected.put(p.resolve("archive_status"), "d");
                }
            } else if (e.type() == 'l') {
                expected.put(p, "l:" + e.linkTarget());
            } else {
                expected.put(p, "f");
            }
        }
        List<Path> roots = new ArrayList<>(List.of(target));
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            Path location = Tablespaces.location(request, target, ts);
            expected.put(target.resolve("pg_tblspc").resolve(ts.oid()), "l:" + location);
            roots.add(location);
        }
        long removed = 0;
        List<Path> later = new ArrayList<>();
        for (Path root : roots) {
            removed += DeltaInPlace.removeExtras(root, expected, later);
        }
        removedPaths.set(removed);
        return later;
    }

    /**
     * Delta: whether the entry's bytes are in the file already, so nothing of it is downloaded. A file with the backup's
     * size and time is taken as it is (a cheap test, as pgBackRest's delta makes), unless checksums are asked for; any
     * other file long enough is read and its bytes there kept when their checksum (SHA-256 or XXH64) is the manifest's.
     */
    private boolean keepLocal(Path file, BackupManifest.FileEntry e, long fileSize, boolean checksum, Copied copied) throws IOException {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException x) {
            return false;
        }
        if (!a.isRegularFile()) {
            return false;
        }
        boolean sameSizeAndTime = a.size() == fileSize && sameTime(a.lastModifiedTime(), e);
        if (!(sameSizeAndTime && !checksum)) {
            if (a.size() < e.fileOffset() + e.size()) {
                return false;
            }
            MessageDigest digest = e.newDigest();
            try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                if (!readRange(in, e, (chunk, at) -> digest.update(chunk))) {
                    return false;
                }
            }
            if (!e.matches(digest)) {
                if (sameSizeAndTime) {
                    log.info("restore: {} has the backup's size and time but other bytes{}; it is rewritten", e.path(),
                            e.fileOffset() == 0 && e.size() == fileSize ? "" : " (piece at byte " + e.fileOffset() + ")");
                }
                return false;
            }
        }
        reusedBytes.addAndGet(e.size());
        copied.bytes(e.size());
        return true;
    }

    /** What is done with each chunk of a local file's bytes read by readRange: the chunk, and its place in the file. */
    private interface Chunk {
        void accept(ByteBuffer chunk, long at) throws IOException;
    }

    /**
     * Reads the entry's bytes of a local file (its offset on, its size of them) in 256 KiB chunks, each handed on
     * flipped; false when the file ends first.
     */
    private static boolean readRange(FileChannel in, BackupManifest.FileEntry e, Chunk chunk) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(256 * 1024);
        long end = e.fileOffset() + e.size();
        for (long at = e.fileOffset(); at < end; ) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), end - at));
            int n = in.read(buffer, at);
            if (n < 0) {
                return false;
            }
            buffer.flip();
            chunk.accept(buffer, at);
            at += n;
        }
        return true;
    }

    private static boolean sameTime(FileTime time, BackupManifest.FileEntry e) {
        return time.toInstant().truncatedTo(ChronoUnit.MILLIS).equals(e.mtime().truncatedTo(ChronoUnit.MILLIS));
    }

    /**
     * Delta, once every entry is in: a file written piece by piece is cut to its size and synced; every file not
     * renamed over gets the backup's mode and time where they differ (a file left as it was keeps its inode and time).
     */
    private void settle(Path file, BackupManifest.FileEntry e, long size) throws IOException {
        if (replaced.contains(e.path())) {
            rewrittenFiles.incrementAndGet();
            return;
        }
        boolean written = writtenInto.contains(e.path());
        if (written || Files.size(file) != size) {
            try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE)) {
                out.truncate(size);
                out.force(true);
            }
            rewrittenFiles.incrementAndGet();
        } else {
            keptFiles.incrementAndGet();
        }
        if (!Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS).equals(permissions(e.mode()))) {
            Files.setPosixFilePermissions(file, permissions(e.mode()));
        }
        if (!sameTime(Files.getLastModifiedTime(file, LinkOption.NOFOLLOW_LINKS), e)) {
            Files.setLastModifiedTime(file, FileTime.from(e.mtime()));
        }
    }

    /** A whole file written under a temporary name: synced, then renamed over the file it replaces. */
    private static void renameOver(Path written, Path file) throws IOException {
        try (FileChannel out = FileChannel.open(written, StandardOpenOption.WRITE)) {
            out.force(true);
        }
        Files.move(written, file, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Delta: where a whole file is written before it is renamed over its place. */
    private static Path temporary(Path file) {
        return file.resolveSibling(file.getFileName() + ".tidemark-new");
    }

    private interface Copied {
        void bytes(long n);
    }

    private void unpack(RestoreRunner.Request request, BackupManifest manifest, Path target, BackupManifest.BundleObject object,
                        List<BackupManifest.FileEntry> entries, Map<String, Object> pieced, Copied copied, AtomicLong files)
            throws IOException {
        byte[] buffer = new byte[256 * 1024];
        // every file (or piece) is checked against its own checksum and every chunk against its GCM tag (or CRC):
        // hashing the whole bundle again would add a pass over every byte and check nothing more
        downloadedBytes.addAndGet(object.storedBytes());
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
                boolean delta = request.delta();
                Path place = file;
                if (delta && !piece) {
                    file = temporary(place);
                }
                MessageDigest digest = e.newDigest();
                // a whole file is new (the target was checked empty); the pieces of one file share it
                StandardOpenOption create = piece ? StandardOpenOption.CREATE : StandardOpenOption.CREATE_NEW;
                // delta: through the page cache, where the file's pages are (the compare just read them): a copy into
                // them, written back while the work goes on and synced when the file is settled; O_DIRECT waited for
                // the disk at every write and dropped the cached pages the recovery then reads
                if (delta || !writeDirect(in, file, e, object, buffer, digest, copied, create)) {
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
                if (!actual.equals(e.checksum())) {
                    throw new IOException("checksum mismatch for " + e.path() + (piece ? " (piece at byte " + e.fileOffset() + ")" : "")
                            + " from object " + object.key() + ": manifest says " + e.checksumAlgorithm() + " " + e.checksum()
                            + ", restored bytes have " + actual
                            + "; the backup is damaged");
                }
                written(file, e, piece, files);
                if (delta && piece) {
                    writtenInto.add(e.path());
                } else if (delta) {
                    replaced.add(e.path());
                    if (e.path().equals("global/pg_control")) {
                        newControlFile = file; // renamed last, once every other file is in
                    } else {
                        renameOver(file, place);
                    }
                }
            }
            in.transferTo(OutputStream.nullOutputStream()); // reach the end, so the codec sees the final chunk (truncation)
        }
    }

    /** A whole file gets its mode and time at once; a pieced one once all its pieces are in. */
    private static void written(Path file, BackupManifest.FileEntry e, boolean piece, AtomicLong files) throws IOException {
        if (!piece) {
            Files.setPosixFilePermissions(file, permissions(e.mode()));
            Files.setLastModifiedTime(file, FileTime.from(e.mtime()));
            files.incrementAndGet();
        } else if (e.fileOffset() == 0) {
            files.incrementAndGet();
        }
    }

    /**
     * Copies the entry's bytes from the previous copy of its file when that has the backup's size and time (a cheap
     * test, as pgBackRest's delta makes) and keeps them only when their checksum is the manifest's, so the result is
     * what a download writes. Copied, not linked: the restored server rewrites its relation files in place, and the
     * previous directory must stay as it was. False, with no whole file left behind, when the entry is to be downloaded.
     */
    private boolean copyPrevious(Path old, Path file, BackupManifest.FileEntry e, long fileSize, Object fileLock, Copied copied,
                                 AtomicLong files) throws IOException {
        if (old == null) {
            return false;
        }
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(old, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException x) {
            return false;
        }
        if (!a.isRegularFile() || a.size() != fileSize || !sameTime(a.lastModifiedTime(), e)) {
            return false;
        }
        boolean piece = fileLock != null;
        MessageDigest digest = e.newDigest();
        // the pieces of one file one at a time, as downloaded ones are (a whole file is this worker's alone)
        synchronized (piece ? fileLock : digest) {
            try (FileChannel in = FileChannel.open(old, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
                 FileChannel out = FileChannel.open(file, piece ? StandardOpenOption.CREATE : StandardOpenOption.CREATE_NEW,
                         StandardOpenOption.WRITE)) {
                // shorter than it was a moment ago: the checksum below fails, and the entry is downloaded
                readRange(in, e, (chunk, at) -> {
                    digest.update(chunk.duplicate());
                    for (long w = at; chunk.hasRemaining(); ) {
                        w += out.write(chunk, w);
                    }
                });
            }
        }
        if (!e.matches(digest)) {
            // a piece is overwritten at its place by the download; a whole file is written anew
            if (!piece) {
                Files.delete(file);
            }
            log.debug("restore: {} has the backup's size and time but other bytes; it is downloaded", e.path());
            return false;
        }
        reusedBytes.addAndGet(e.size());
        copied.bytes(e.size());
        written(file, e, piece, files);
        return true;
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

    private Path resolve(RestoreRunner.Request request, BackupManifest manifest, Path target, String path) {
        if (path.contains("..") || path.startsWith("/")) {
            throw new IllegalStateException("manifest path '" + path + "' leaves the data directory: the manifest is not trustworthy");
        }
        for (BackupManifest.Tablespace ts : manifest.tablespaces()) {
            String root = "pg_tblspc/" + ts.oid();
            if (path.startsWith(root + "/")) {
                return Tablespaces.location(request, target, ts).resolve(path.substring(root.length() + 1));
            }
        }
        return target.resolve(path);
    }

    private static boolean isTablespaceRoot(BackupManifest manifest, String path) {
        return manifest.tablespaces().stream().anyMatch(ts -> path.equals("pg_tblspc/" + ts.oid()));
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
}
