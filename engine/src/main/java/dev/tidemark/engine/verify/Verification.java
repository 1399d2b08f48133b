package dev.tidemark.engine.verify;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.RecoveryWindow;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.operations.Progress;
import dev.tidemark.engine.operations.VerifyReport.Kind;
import dev.tidemark.engine.operations.VerifyReport.Problem;
import dev.tidemark.engine.operations.VerifyReport;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.PartialSegment;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * One verification of a database: lists its objects once, reads the manifests, then every bundle, WAL segment and dump
 * archive whole on the workers, and prices what it found against the window ({@link WindowCost}).
 */
public final class Verification {
    private static final Logger LOG = LoggerFactory.getLogger(Verification.class);
    private static final int WAL_PAGE = 8192;
    private static final Duration PROGRESS_EVERY = Duration.ofSeconds(5);

    private final Repository repository;
    private final DatabaseHistory history;
    private final int workers;
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong objectsRead = new AtomicLong();
    private final ConcurrentLinkedQueue<Finding> findings = new ConcurrentLinkedQueue<>();
    private final AtomicInteger readsDone = new AtomicInteger();
    private final long startedNanos = System.nanoTime();
    private volatile int readsTotal;
    private volatile long bytesExpected;
    /** The plain bytes of the base backups' objects, added up as their reads are planned. */
    private long bundleBytes;

    /** What is wrong, before it is priced: a backup by id, or a WAL segment by chain and number. */
    private record Finding(Kind kind, String object, String detail, String backupId, String chain, long segment) {
    }

    public Verification(Repository repository, DatabaseHistory history, int workers) {
        this.repository = repository;
        this.history = history;
        this.workers = Math.max(1, workers);
    }

    /** live: what the stream made durable beyond the recorded WAL (its partial segment), null when it does not run. */
    public VerifyReport run(Instant now, Commands.LiveWal live) throws IOException {
        Instant started = Instant.now();
        String db = history.id();
        Map<String, ObjectInfo> listed;
        try (Stream<ObjectInfo> objects = repository.store().list(repository.layout().databasePrefix(db))) {
            listed = objects.collect(Collectors.toMap(ObjectInfo::key, Function.identity(), (a, b) -> a));
        }
        List<BaseBackup> kept = history.baseBackups().stream().filter(b -> b.status() == JobStatus.COMPLETED).toList();
        List<NeededWal> wal = NeededWal.of(history, kept, live);
        List<DatabaseHistory.Dump> dumps = history.dumps().stream().filter(d -> d.status() == JobStatus.COMPLETED).toList();
        List<Runnable> reads = new ArrayList<>();
        for (BaseBackup b : kept) {
            manifest(b, listed).ifPresent(m -> bundles(b, m, listed, reads));
        }
        for (NeededWal w : wal) {
            reads.add(() -> segment(db, w, listed));
        }
        for (DatabaseHistory.Dump d : dumps) {
            reads.add(() -> dump(d, listed));
        }
        bytesExpected = expectedBytes(kept, wal.size(), dumps, listed);
        readsTotal = reads.size();
        readAll(db, reads);
        RecoveryWindow window = RecoveryWindow.of(history, now, live);
        Set<String> damaged = new HashSet<>();
        findings.stream().filter(f -> f.backupId() != null).forEach(f -> damaged.add(f.backupId()));
        WindowCost cost = new WindowCost(window, kept, damaged);
        List<Problem> problems = findings.stream()
                .sorted(Comparator.comparing(Finding::kind).thenComparing(Finding::object))
                .map(f -> new Problem(f.kind(), f.object(), f.detail(), f.backupId() != null
                        ? cost.ofBackup(kept.stream().filter(b -> b.id().equals(f.backupId())).findFirst().orElseThrow())
                        : f.chain() != null ? cost.ofWal(f.chain(), f.segment(), uploadBefore(db, f.chain(), f.segment(), wal, listed))
                        : "no part of the window is lost: a dump is not part of it; that dump cannot be restored"))
                .toList();
        return new VerifyReport(db, started, Instant.now(), window.describe(), kept.size(), wal.size(), dumps.size(),
                objectsRead.get(), bytesRead.get(), problems);
    }

    /**
     * How far it has come, for the API and the CLI while it runs: reads done of all (base backup objects, WAL segments,
     * dumps) and bytes read of about how many (a dump's archives count by their stored size), never 100% before the end.
     */
    public Progress progress() {
        int total = readsTotal;
        long expected = bytesExpected;
        long read = bytesRead.get();
        double seconds = Math.max(0.001, (System.nanoTime() - startedNanos) / 1e9);
        int percent = total == 0 ? 0 : (int) Math.min(99, expected > 0 ? read * 100 / expected : readsDone.get() * 100L / total);
        return new Progress(total == 0 ? "listing" : "reading", read, Math.max(expected, read), readsDone.get(), total,
                read / seconds, percent);
    }

    private long expectedBytes(List<BaseBackup> kept, int walSegments, List<DatabaseHistory.Dump> dumps, Map<String, ObjectInfo> listed) {
        long bytes = (long) walSegments * DatabaseHistory.SEGMENT_SIZE;
        for (BaseBackup b : kept) {
            String key = b.manifestKey() != null ? b.manifestKey() : repository.layout().baseBackupManifest(history.id(), b.id());
            bytes += listed.containsKey(key) ? listed.get(key).size() : 0;
        }
        for (DatabaseHistory.Dump d : dumps) {
            for (DumpArchive a : d.archives()) {
                bytes += listed.containsKey(a.key()) ? listed.get(a.key()).size() : 0;
            }
        }
        return bytes + bundleBytes;
    }

    /** The backup's manifest, read whole and checked against the checksum the catalog recorded; empty when it is not usable. */
    private Optional<BackupManifest> manifest(BaseBackup b, Map<String, ObjectInfo> listed) {
        String key = b.manifestKey() != null ? b.manifestKey() : repository.layout().baseBackupManifest(history.id(), b.id());
        if (!listed.containsKey(key)) {
            findings.add(new Finding(Kind.BASE_BACKUP_MISSING, "base backup " + b.id(), "its manifest " + key + " is missing", b.id(), null, 0));
            return Optional.empty();
        }
        try (InputStream in = b.manifestSha256() == null ? repository.openDecoded(key) : repository.openDecoded(key, b.manifestSha256())) {
            byte[] json = in.readAllBytes();
            count(json.length);
            return Optional.of(BackupManifest.fromJson(new ByteArrayInputStream(json), "base backup " + b.id()));
        } catch (IOException | RuntimeException e) {
            findings.add(new Finding(Kind.BASE_BACKUP_DAMAGED, "base backup " + b.id(), "its manifest " + key + " cannot be read: "
                    + e.getMessage(), b.id(), null, 0));
            return Optional.empty();
        }
    }

    /** One read per object of the backup: its files (and pieces of files) hashed in the order they lie in it. */
    private void bundles(BaseBackup b, BackupManifest m, Map<String, ObjectInfo> listed, List<Runnable> reads) {
        Map<Integer, List<BackupManifest.FileEntry>> byObject = m.files().stream()
                .filter(e -> e.type() == BackupManifest.FileEntry.FILE)
                .collect(Collectors.groupingBy(BackupManifest.FileEntry::object));
        for (BackupManifest.BundleObject o : m.objects()) {
            List<BackupManifest.FileEntry> files = byObject.getOrDefault(o.number(), List.of()).stream()
                    .sorted(Comparator.comparingLong(BackupManifest.FileEntry::offset)).toList();
            bundleBytes += o.plainBytes();
            reads.add(() -> bundle(b, o, files, listed));
        }
    }

    private void bundle(BaseBackup b, BackupManifest.BundleObject o, List<BackupManifest.FileEntry> files, Map<String, ObjectInfo> listed) {
        if (!listed.containsKey(o.key())) {
            findings.add(new Finding(Kind.BASE_BACKUP_DAMAGED, "base backup " + b.id(), "its object " + o.key() + " is missing", b.id(), null, 0));
            return;
        }
        byte[] buffer = new byte[256 * 1024];
        try (InputStream in = o.sha256() == null ? repository.openDecoded(o.key()) : repository.openDecoded(o.key(), o.sha256())) {
            long position = 0;
            for (BackupManifest.FileEntry e : files) {
                in.skipNBytes(e.offset() - position);
                count(e.offset() - position);
                e.copyChecked(in, java.io.OutputStream.nullOutputStream(), o.key(), buffer, this::count);
                position = e.offset() + e.size();
            }
            drain(in, buffer);
            objectsRead.incrementAndGet();
        } catch (IOException | RuntimeException e) {
            findings.add(new Finding(Kind.BASE_BACKUP_DAMAGED, "base backup " + b.id(), "its object " + o.key() + " is damaged: "
                    + e.getMessage(), b.id(), null, 0));
        }
    }

    /** A WAL segment read whole: decodable, a whole segment (a partial one at most that), every page where it belongs. */
    private void segment(String db, NeededWal w, Map<String, ObjectInfo> listed) {
        String name = w.segment().name();
        String key = repository.layout().walSegment(db, w.chain(), name);
        // a partial segment, or (synchronous mode, its whole object not stored) the segment as its partial object and pieces
        boolean partialOnly = !listed.containsKey(key) && listed.containsKey(key + ".partial");
        if (partialOnly) {
            key = key + ".partial";
        }
        if (!listed.containsKey(key)) {
            findings.add(new Finding(Kind.WAL_MISSING, "WAL segment " + name, "it is not in the repository (" + key + ")", null,
                    w.chain(), w.segment().number()));
            return;
        }
        try (InputStream in = PartialSegment.openWal(repository, key)) {
            byte[] page = new byte[WAL_PAGE];
            long read = 0;
            for (int n; (n = in.readNBytes(page, 0, WAL_PAGE)) > 0; read += n) {
                count(n);
                if (read + n > DatabaseHistory.SEGMENT_SIZE) {
                    throw new IOException("it is larger than a segment");
                }
                checkPage(w, page, n, read);
            }
            if ((!partialOnly || !w.mayBePartial()) && read != DatabaseHistory.SEGMENT_SIZE) {
                throw new IOException("it holds " + read + " bytes, not a whole segment");
            }
            objectsRead.incrementAndGet();
        } catch (IOException | RuntimeException e) {
            findings.add(new Finding(Kind.WAL_DAMAGED, "WAL segment " + name, key + " is damaged: " + e.getMessage(), null,
                    w.chain(), w.segment().number()));
        }
    }

    /** A page header (xlp_magic, xlp_info, xlp_tli, xlp_pageaddr) names its own timeline and position; a zeroed page is unused. */
    private static void checkPage(NeededWal w, byte[] page, int length, long offset) throws IOException {
        if (length < 16) {
            return;
        }
        ByteBuffer header = ByteBuffer.wrap(page, 0, 16).order(ByteOrder.LITTLE_ENDIAN);
        if (header.getShort(0) == 0) {
            return;
        }
        long expected = w.segment().number() * DatabaseHistory.SEGMENT_SIZE + offset;
        int timeline = header.getInt(4);
        long address = header.getLong(8);
        if (address != expected || timeline > w.segment().timeline()) {
            throw new IOException("its page at offset " + offset + " says it is at " + Long.toHexString(address) + " on timeline "
                    + timeline + ", not at " + Long.toHexString(expected) + " on timeline " + w.segment().timeline());
        }
    }

    private void dump(DatabaseHistory.Dump d, Map<String, ObjectInfo> listed) {
        List<String> keys = new ArrayList<>();
        if (d.manifestKey() != null) {
            keys.add(d.manifestKey());
        }
        for (DumpArchive a : d.archives()) {
            keys.add(a.key());
        }
        byte[] buffer = new byte[256 * 1024];
        for (String key : keys) {
            String sha = d.archives().stream().filter(a -> a.key().equals(key)).map(DumpArchive::sha256).findFirst().orElse(null);
            if (!listed.containsKey(key)) {
                findings.add(new Finding(Kind.DUMP_MISSING, "dump " + d.id(), key + " is missing", null, null, 0));
                continue;
            }
            try (InputStream in = sha == null ? repository.openDecoded(key) : repository.openDecoded(key, sha)) {
                drain(in, buffer);
                objectsRead.incrementAndGet();
            } catch (IOException | RuntimeException e) {
                findings.add(new Finding(Kind.DUMP_DAMAGED, "dump " + d.id(), key + " is damaged: " + e.getMessage(), null, null, 0));
            }
        }
    }

    private void drain(InputStream in, byte[] buffer) throws IOException {
        for (int n; (n = in.read(buffer)) > 0; ) {
            count(n);
        }
    }

    private void count(long n) {
        bytesRead.addAndGet(n);
    }

    /** About when the WAL of a segment began: the upload of the nearest present segment before it (WAL carries no time of its own here). */
    private Instant uploadBefore(String db, String chain, long segment, List<NeededWal> wal, Map<String, ObjectInfo> listed) {
        Instant best = null;
        for (NeededWal w : wal) {
            if (w.chain().equals(chain) && w.segment().number() < segment) {
                ObjectInfo o = listed.get(repository.layout().walSegment(db, chain, w.segment().name()));
                best = o == null ? best : o.lastModified();
            }
        }
        return best;
    }

    private void readAll(String db, List<Runnable> reads) throws IOException {
        ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "tidemark-verify-" + db);
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> running = reads.stream().<Future<?>>map(r -> pool.submit(() -> {
                r.run();
                readsDone.incrementAndGet();
            })).toList();
            Instant next = Instant.now().plus(PROGRESS_EVERY);
            for (int i = 0; i < running.size(); i++) {
                running.get(i).get();
                if (Instant.now().isAfter(next)) {
                    LOG.info("verify {}: {}/{} reads, {} MiB", db, i + 1, running.size(), bytesRead.get() >> 20);
                    next = Instant.now().plus(PROGRESS_EVERY);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("verification of " + db + " was interrupted", e);
        } catch (ExecutionException e) {
            throw new IOException("verification of " + db + " failed: " + e.getCause().getMessage(), e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }
}
