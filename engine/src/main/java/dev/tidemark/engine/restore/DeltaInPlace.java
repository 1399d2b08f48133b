package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.PartialSegment;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32C;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-place restore without a copy (delta): the data directory is restored where it is, and nothing of its current
 * state is kept. So it is allowed only when the repository can give that state back: the server stopped cleanly, the
 * same database system as the backup's, and the WAL below its last checkpoint (every segment from the backup's start
 * up to it) in the repository, byte for byte as in the directory's pg_wal. Before the first change, global/pg_control
 * goes (the restore writes it last), so that a restore failing halfway leaves a directory no server starts; then what
 * the backup does not have is moved out and deleted beside the recovery. The files themselves are DataDirectoryWriter's.
 */
final class DeltaInPlace {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);
    private static final int WAL_PAGE = 8192;
    private static final int SHORT_PAGE_HEADER = 24;
    private static final int LONG_PAGE_HEADER = 40;

    private DeltaInPlace() {
    }

    /** The fields of pg_controldata this check reads. */
    record ControlData(String state, String systemIdentifier, Lsn checkpoint, int timeline) {
        static ControlData parse(String output) {
            Map<String, String> fields = new HashMap<>();
            output.lines().forEach(line -> {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    fields.put(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
                }
            });
            String checkpoint = fields.get("Latest checkpoint location");
            String timeline = fields.get("Latest checkpoint's TimeLineID");
            if (fields.get("Database cluster state") == null || checkpoint == null || timeline == null) {
                throw new IllegalArgumentException("pg_controldata printed no cluster state or checkpoint: " + output.lines().findFirst().orElse(""));
            }
            return new ControlData(fields.get("Database cluster state"), fields.get("Database system identifier"), Lsn.parse(checkpoint),
                    Integer.parseInt(timeline));
        }
    }

    /**
     * Throws RestoreRejectedException, before anything is changed, unless the repository can give the directory's
     * current state back (see the class). Reads pg_controldata, the checkpoint's segment in pg_wal and the same WAL
     * from the repository.
     */
    static void requireReproducible(RestoreRunner.Request request, Path target, PgServer existing, BackupManifest manifest,
                                    Repository repository) throws IOException {
        ControlData control;
        try {
            control = ControlData.parse(existing.run(List.of("env", "LC_ALL=C", existing.binaries().tool("pg_controldata").toString(),
                    "-D", target.toString()), Duration.ofSeconds(60), "pg_controldata"));
        } catch (IOException | IllegalArgumentException e) {
            throw refused(target, "pg_controldata could not tell how its server stopped (" + e.getMessage() + ")");
        }
        if (!control.state().equals("shut down")) {
            throw refused(target, "its server was not stopped cleanly (pg_controldata: \"Database cluster state: " + control.state()
                    + "\"); start it and stop it with pg_ctl stop -m fast (a clean shut-down), then ask again");
        }
        if (!manifest.systemIdentifier().equals(control.systemIdentifier())) {
            throw refused(target, "it holds database system " + control.systemIdentifier() + ", the backup " + manifest.backupId()
                    + " system " + manifest.systemIdentifier());
        }
        long segmentSize = manifest.walSegmentSize();
        // a shutdown checkpoint changes no data: the directory's state is the WAL below it (its REDO location)
        Lsn required = dataEnd(control.checkpoint(), segmentSize);
        WalSegment last = WalSegment.containing(control.timeline(), required.plus(-1), segmentSize);
        List<ObjectInfo> objects = WalToReplay.objects(repository, request, manifest);
        Set<Long> held = new HashSet<>();
        for (ObjectInfo o : objects) {
            String n = o.key().substring(o.key().lastIndexOf('/') + 1);
            if (n.length() >= 24 && RepositoryLayout.WAL_SEGMENT.matcher(n.substring(0, 24)).matches()) {
                WalSegment s = WalSegment.parse(n.substring(0, 24), segmentSize);
                if (s.timeline() <= control.timeline()) {
                    held.add(s.number());
                }
            }
        }
        long backupStart = WalSegment.containing(manifest.timeline(), Lsn.parse(manifest.startLsn()), segmentSize).number();
        for (long n = backupStart; n <= last.number(); n++) {
            if (!held.contains(n)) {
                throw refused(target, "the repository's WAL from the backup's start to the directory's last checkpoint (" + control.checkpoint()
                        + ") lacks segment " + new WalSegment(control.timeline(), n, segmentSize).name());
            }
        }
        String problem = sameAsRepository(repository, request, manifest, objects, last, target.resolve("pg_wal").resolve(last.name()),
                required.value() - last.start().value());
        if (problem != null) {
            throw refused(target, problem + " (the directory's last checkpoint is at " + control.checkpoint() + "). The stream uploads the"
                    + " segment being written every few seconds, so a server stopped while it wrote can leave its last seconds out:"
                    + " start it, let 'tidemark db status' show the durable LSN at the server's pg_current_wal_lsn() with nothing"
                    + " writing, stop it, and ask again");
        }
        log.info("restore {}: {} was stopped cleanly at checkpoint {} on timeline {}, and the repository holds its WAL up to there:"
                        + " restored in place without a copy", request.restoreId(), target, control.checkpoint(), control.timeline());
    }

    private static RestoreRejectedException refused(Path target, String why) {
        return new RestoreRejectedException("in-place restore without a copy (delta) refused for " + target + ": " + why + ". Only a"
                + " directory the repository can give back is restored without a copy; the default in-place restore (without --delta)"
                + " moves it aside and keeps it, and works here. Nothing was changed");
    }

    /**
     * Null when the repository holds the first upTo bytes of segment s as the local file has them; else what differs.
     */
    private static String sameAsRepository(Repository repository, RestoreRunner.Request request, BackupManifest manifest,
                                           List<ObjectInfo> objects, WalSegment s, Path local, long upTo) throws IOException {
        String whole = repository.layout().walSegment(request.databaseId(), manifest.chain(), s.name());
        String partial = repository.layout().walPartial(request.databaseId(), manifest.chain(), s.name());
        String key = objects.stream().map(ObjectInfo::key).filter(k -> k.equals(whole)).findFirst()
                .or(() -> objects.stream().map(ObjectInfo::key).filter(k -> k.equals(partial)).findFirst()).orElse(null);
        if (key == null) {
            return "the repository holds no WAL segment " + s.name() + " of its timeline";
        }
        byte[] stored;
        try (InputStream in = PartialSegment.openWal(repository, key)) {
            stored = in.readNBytes((int) upTo);
        }
        byte[] own = new byte[(int) upTo];
        try (FileChannel in = FileChannel.open(local, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.wrap(own);
            while (b.hasRemaining() && in.read(b) >= 0) {
                // until full or the end
            }
        } catch (NoSuchFileException e) {
            if (stored.length < upTo) {
                return "the repository's WAL ends at " + s.start().plus(stored.length) + ", before the directory's last checkpoint";
            }
            return null; // removed or recycled by the checkpoint: the repository's bytes are all there, nothing to compare with
        }
        return compare(stored, own, s);
    }

    /**
     * Null when the repository's bytes of segment s give the local segment's WAL (own, up to the directory's data end):
     * the same bytes, all of them, or all up to a segment switch after which the local segment holds nothing but its
     * zeroed padding (the stream may not have sent the padding of a segment switched right before the server stopped;
     * recovery never reads past a switch record). Else what differs.
     */
    static String compare(byte[] stored, byte[] own, WalSegment s) {
        int common = Math.min(stored.length, own.length);
        int at = Arrays.mismatch(stored, 0, common, own, 0, common);
        if (at >= 0) {
            return "the repository's WAL differs from the directory's own pg_wal/" + s.name() + " at " + s.start().plus(at)
                    + " (another history)";
        }
        if (stored.length >= own.length) {
            return null;
        }
        int end = switchEnd(stored);
        if (end > 0 && isZero(own, end, own.length) && isZero(stored, end, stored.length)) {
            return null;
        }
        return "the repository's WAL ends at " + s.start().plus(stored.length) + ", before the directory's last checkpoint";
    }

    /** SizeOfXLogRecord: a record's header, and the whole of an XLOG_SWITCH record. */
    private static final int RECORD_HEADER = 24;
    /** XLOG_SWITCH in xl_info (resource manager 0, RM_XLOG_ID). */
    private static final int XLOG_SWITCH = 0x40;

    /**
     * Where the segment's WAL ends when its last record (the bytes after it all zero) is a segment switch: the end of that
     * record, proved by its CRC-32C; 0 otherwise.
     */
    static int switchEnd(byte[] wal) {
        int last = wal.length - 1;
        while (last >= 0 && wal[last] == 0) {
            last--;
        }
        int end = (last + 8) & ~7; // records are MAXALIGNed: the switch record's last byte may be a zero of its CRC
        for (int candidate = end; candidate >= RECORD_HEADER && candidate >= end - 8; candidate -= 8) {
            int start = candidate - RECORD_HEADER;
            ByteBuffer h = ByteBuffer.wrap(wal, start, RECORD_HEADER).order(ByteOrder.LITTLE_ENDIAN);
            int totalLength = h.getInt(start);
            int info = wal[start + 16] & 0xF0;
            int resourceManager = wal[start + 17];
            if (totalLength != RECORD_HEADER || resourceManager != 0 || info != XLOG_SWITCH) {
                continue;
            }
            CRC32C crc = new CRC32C();
            crc.update(wal, start, 20); // the header up to xl_crc; a switch record has no data after it
            if ((int) crc.getValue() == h.getInt(start + 20)) {
                return candidate;
            }
        }
        return 0;
    }

    private static boolean isZero(byte[] bytes, int from, int to) {
        for (int i = from; i < to; i++) {
            if (bytes[i] != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Where the WAL that made the directory's state ends, for a clean shut-down at checkpoint: the checkpoint's start,
     * or the start of its page when the record opens the page (the page header holds no data).
     */
    static Lsn dataEnd(Lsn checkpoint, long segmentSize) {
        long inPage = checkpoint.value() % WAL_PAGE;
        long header = checkpoint.value() % segmentSize < WAL_PAGE ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER;
        return inPage == header ? new Lsn(checkpoint.value() - inPage) : checkpoint;
    }

    /**
     * Removes global/pg_control before the first change (the restore writes it last): a restore failing halfway leaves
     * a directory that no server starts as if it were whole. Idempotent.
     */
    static void disable(Path target) throws IOException {
        Files.deleteIfExists(target.resolve("global").resolve("pg_control"));
    }

    /**
     * After a failed restore without a copy: global/pg_control removed again (a server the restore started wrote one),
     * and what the operator is to do, for the failure's message.
     */
    static String failed(Path target, RestoreRunner.Request request) {
        try {
            disable(target);
        } catch (IOException e) {
            log.warn("restore {}: could not remove {}/global/pg_control after the failure: {}", request.restoreId(), target, e.getMessage());
        }
        String message = "the data directory " + target + " was being restored in place without a copy and is not startable (its"
                + " global/pg_control is removed, so that no server starts a partial state); restore it again from the repository,"
                + " e.g. tidemark restore " + request.databaseId() + " --latest --in-place --delta (only what differs is downloaded)";
        log.warn("restore {} failed: {}", request.restoreId(), message);
        return message;
    }

    /**
     * Finds under root every path the restore does not write: expected maps each path it writes to "d" (directory), "f"
     * (file) or "l:" and the link's target. A path of another kind there than expected (or a link elsewhere) is removed
     * now, to be made anew; a path the restore does not write at all is added to later, for removeAll (no byte the restore
     * writes depends on it, so it goes while the files are written: freeing a large file's blocks takes the file system a
     * while, about 14 ms per WAL segment here). Never follows a link. Returns how many paths were removed now.
     */
    static int removeExtras(Path root, Map<Path, String> expected, List<Path> later) throws IOException {
        AtomicInteger removed = new AtomicInteger();
        if (!Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS)) {
            return 0;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes a) throws IOException {
                String want = expected.get(dir);
                if (dir.equals(root) || "d".equals(want)) {
                    return FileVisitResult.CONTINUE;
                }
                if (want == null) {
                    later.add(dir);
                } else {
                    removed.addAndGet(deleteTree(dir));
                }
                return FileVisitResult.SKIP_SUBTREE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes a) throws IOException {
                String want = expected.get(file);
                boolean keep = a.isSymbolicLink() ? want != null && want.equals("l:" + Files.readSymbolicLink(file))
                        : a.isRegularFile() && "f".equals(want);
                if (keep) {
                    return FileVisitResult.CONTINUE;
                }
                if (want == null) {
                    later.add(file);
                } else {
                    Files.delete(file);
                    removed.incrementAndGet();
                }
                return FileVisitResult.CONTINUE;
            }
        });
        return removed.get();
    }

    /** Removes each path (a directory with all it holds, never following a link); returns how many paths went. */
    static int removeAll(List<Path> paths) throws IOException {
        int removed = 0;
        for (Path p : paths) {
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                removed += deleteTree(p);
            } else if (Files.deleteIfExists(p)) {
                removed++;
            }
        }
        return removed;
    }

    private static int deleteTree(Path dir) throws IOException {
        AtomicInteger n = new AtomicInteger();
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes a) throws IOException {
                Files.delete(file);
                n.incrementAndGet();
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.delete(d);
                n.incrementAndGet();
                return FileVisitResult.CONTINUE;
            }
        });
        return n.get();
    }
}
