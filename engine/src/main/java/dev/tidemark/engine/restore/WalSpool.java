package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.Workers;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.PartialSegment;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The local WAL spool of a restore. Timeline histories are fetched before PostgreSQL starts; the segments are fetched
 * in the background, oldest first, by the restore's workers, while the WAL scan reads them and then PostgreSQL
 * replays: its restore_command (a small script in the spool) waits for the segment it asks for. A name the archive
 * does not hold is answered at once (the end of the WAL); when every segment is in, the spool says so; when a fetch
 * fails, the script exits in a way PostgreSQL treats as fatal, so the recovery aborts rather than ending early at a
 * wrong point. Closing it stops the fetching (recovery reached its target; what lies beyond is not needed).
 * <p>
 * The fetch runs at most {@link #lookahead} segments ahead of the newest one asked for (by the scan, or by PostgreSQL:
 * the script notes each name it is asked for), so a restore to a time early in a long window fetches, and keeps on
 * disk, the WAL up to its target and a bounded margin, not the whole window. For a time target the margin is two
 * segments per worker (the scan has read to the stop before PostgreSQL starts), and once the scan has found the stop
 * nothing after it is fetched ({@link #fetchNoFurtherThan}).
 * <p>
 * Offered as read ({@link #offerAsRead}, a restore to the latest moment, whose scan runs beside the replay): a fetched
 * segment is kept under a name the script does not look for until the scan has read past it, so the replay never runs
 * ahead of the scan's checks.
 */
final class WalSpool implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WalSpool.class);
    static final String PLAN = ".plan";
    static final String DONE = ".done";
    /** Written by the restore_command: segments the recovery asked for that the archive lacks although it holds later ones. */
    static final String MISSING = ".missing";
    static final String FAILED = ".failed";
    static final String SCRIPT = "restore-command.sh";
    /** Written by the restore_command: the name PostgreSQL asked for last. */
    static final String WANTED = ".wanted";
    /** Written by the restore_command: each segment PostgreSQL had to wait for, with the milliseconds it waited. */
    static final String WAITS = ".waits";
    /** A fetched segment's name while the scan has not read past it (offered as read). */
    static final String UNREAD = ".unread";
    /** How much WAL the fetch may run ahead of the newest segment asked for. */
    static final long LOOKAHEAD_BYTES = 512L << 20;
    /** Disk space a fetch leaves free (for the server's own files while it recovers). */
    static final long FREE_RESERVE = 256L << 20;
    /** Spooled segments are decrypted WAL, row data in plain: readable by their owner alone, as in pg_wal. */
    private static final java.nio.file.attribute.FileAttribute<?> PRIVATE_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    private final Repository repository;
    private final Path spool;
    private final long segmentSize;
    private final int workers;
    private final String restoreId;
    private final ServerUser owner;
    /** Spool name -> the object it comes from (a partial segment is kept under its full name, padded). */
    private final Map<String, ObjectInfo> segments = new LinkedHashMap<>();
    private final Map<String, ObjectInfo> histories = new LinkedHashMap<>();
    /** Position of each segment in replay order. */
    private final Map<String, Integer> order = new java.util.HashMap<>();
    /** The end of the newest segment the archive holds (a partial one counts whole). */
    private final Lsn archiveEnd;
    /** The fetch may go up to this many segments beyond the newest one asked for. */
    private final int lookahead;
    /** The replay-order position of the newest segment asked for (-1: none yet). */
    private final AtomicInteger asked = new AtomicInteger(-1);
    private final Object gate = new Object();
    private final AtomicInteger fetched = new AtomicInteger();
    private final AtomicLong fetchedBytes = new AtomicLong();
    private volatile String failure;
    private volatile boolean closed;
    /** Segments numbered below this are offered to PostgreSQL as they come; the rest wait for the scan (offerAsRead). */
    private long offeredBelow = Long.MAX_VALUE;
    /** Fetched, not yet offered (offered as read), in replay order. */
    private final Map<String, Path> unoffered = new LinkedHashMap<>();
    private boolean allFetched;
    /** Segments numbered above this are not fetched (fetchNoFurtherThan): the recovery never reads them. */
    private volatile long lastNeeded = Long.MAX_VALUE;
    private ExecutorService pool;
    /**
     * With {@value #SYNC_BEHIND_PROPERTY}: each segment is written out to disk by threads of its own, behind the fetch, so
     * the fetch (and the scan that reads what it wrote) does not wait for the disk; a segment is offered to PostgreSQL
     * only once it is written out, as without.
     */
    static final String SYNC_BEHIND_PROPERTY = "tidemark.restore.wal-sync-behind";
    private final boolean syncBehind = Boolean.getBoolean(SYNC_BEHIND_PROPERTY);
    private ExecutorService syncer;
    private final List<Future<?>> syncs = java.util.Collections.synchronizedList(new ArrayList<>());
    private Thread coordinator;
    private long started;

    /** owner: the server's user, who gets each file (PostgreSQL may then hard-link it instead of copying it). */
    WalSpool(Repository repository, Path spool, List<ObjectInfo> objects, long segmentSize, int workers, String restoreId,
             ServerUser owner) {
        this(repository, spool, objects, segmentSize, workers, restoreId, owner, LOOKAHEAD_BYTES);
    }

    /** lookaheadBytes: how much WAL the fetch may run ahead of the newest segment asked for (at least two per worker). */
    WalSpool(Repository repository, Path spool, List<ObjectInfo> objects, long segmentSize, int workers, String restoreId,
             ServerUser owner, long lookaheadBytes) {
        this.owner = owner;
        this.repository = repository;
        this.spool = spool;
        this.segmentSize = segmentSize;
        this.workers = Math.max(1, workers);
        this.restoreId = restoreId;
        List<String> complete = new ArrayList<>();
        for (ObjectInfo o : objects) {
            String name = name(o.key());
            if (RepositoryLayout.TIMELINE_HISTORY.matcher(name).matches()) {
                histories.put(name, o);
            } else if (name.length() == 24 && !name.contains(".")) {
                complete.add(name);
            }
        }
        List<ObjectInfo> ordered = new ArrayList<>(objects);
        ordered.sort(Comparator.comparing(o -> name(o.key())));
        for (ObjectInfo o : ordered) {
            String name = name(o.key());
            if (name.contains(".conflict-") || histories.containsKey(name)) {
                continue;
            }
            if (name.endsWith(".partial")) {
                String full = name.substring(0, 24);
                if (!complete.contains(full)) {
                    segments.put(full, o); // the stream's last, unfinished segment: padded to a full one
                }
            } else if (name.length() == 24) {
                segments.put(name, o);
            }
        }
        List<Map.Entry<String, ObjectInfo>> sorted = new ArrayList<>(segments.entrySet());
        // replay order: by segment number, then timeline (a switch segment exists on both)
        sorted.sort(Comparator.comparingLong((Map.Entry<String, ObjectInfo> e) -> WalSegment.parse(e.getKey(), segmentSize).number())
                .thenComparing(Map.Entry::getKey));
        segments.clear();
        sorted.forEach(e -> {
            order.put(e.getKey(), order.size());
            segments.put(e.getKey(), e.getValue());
        });
        this.lookahead = (int) Math.max(2L * this.workers, lookaheadBytes / segmentSize);
        long newest = segments.keySet().stream().mapToLong(n -> WalSegment.parse(n, segmentSize).number()).max().orElse(-1);
        this.archiveEnd = new Lsn((newest + 1) * segmentSize);
    }

    /** Notes that a segment was asked for: the fetch may now run up to {@link #lookahead} segments beyond it. */
    private void asked(String name) {
        Integer position = order.get(name);
        if (position != null && asked.getAndAccumulate(position, Math::max) < position) {
            synchronized (gate) {
                gate.notifyAll();
            }
        }
    }

    /** Reads the name PostgreSQL's restore_command asked for last, if it asked. */
    private void readWanted() {
        try {
            String name = Files.readString(spool.resolve(WANTED), StandardCharsets.US_ASCII).strip();
            asked(name);
        } catch (IOException e) {
            // not asked yet (or being replaced): nothing to note
        }
    }

    /** How long after a target time a segment may have been stored and still hold WAL written before it (clock skew). */
    static final java.time.Duration STORED_AFTER_MARGIN = java.time.Duration.ofMinutes(5);

    /**
     * The disk space the spool of a restore is expected to take: every segment whole (a partial one is padded) and the
     * timeline histories. For a time target, the segments up to the first one stored more than
     * {@link #STORED_AFTER_MARGIN} after the target (a segment is stored after it is written, so WAL beyond that is
     * written after the target) and one more, plus the fetch's margin: an estimate for the disk space check (a long
     * transaction that commits well after the target can need more; the restore then fails for want of space and
     * cleans up); without a target, all of them.
     */
    static long spoolBytes(List<ObjectInfo> objects, long segmentSize, Optional<java.time.Instant> target) {
        java.util.TreeMap<Long, java.time.Instant> stored = new java.util.TreeMap<>(); // segment number -> first stored
        long histories = 0;
        for (ObjectInfo o : objects) {
            String name = name(o.key());
            if (RepositoryLayout.TIMELINE_HISTORY.matcher(name).matches()) {
                histories += o.size();
            } else if (name.length() >= 24 && !name.contains(".conflict-")
                    && RepositoryLayout.WAL_SEGMENT.matcher(name.substring(0, 24)).matches()) {
                long number = WalSegment.parse(name.substring(0, 24), segmentSize).number();
                java.time.Instant at = o.lastModified() == null ? java.time.Instant.MAX : o.lastModified();
                stored.merge(number, at, (a, b) -> a.isBefore(b) ? a : b);
            }
        }
        long count = stored.size(); // a segment held on two timelines (a switch) counts once: a few segments at most
        java.time.Instant after = target.map(t -> t.plus(STORED_AFTER_MARGIN)).orElse(null);
        // when even the first segment was stored after the target (a repository copied or restored from elsewhere), the
        // times say nothing about where the target lies: all of it
        if (after != null && !stored.isEmpty() && !stored.firstEntry().getValue().isAfter(after)) {
            Optional<Long> firstAfter = stored.entrySet().stream().filter(e -> e.getValue().isAfter(after)).map(Map.Entry::getKey)
                    .findFirst();
            if (firstAfter.isPresent()) {
                count = Math.min(count, stored.headMap(firstAfter.get() + 1, true).size() + LOOKAHEAD_BYTES / segmentSize);
            }
        }
        return histories + count * segmentSize;
    }

    /**
     * Where the replay ends, for its progress: the stop point when the restore knows it, else the end of the newest
     * segment the archive holds (a partial one counts whole).
     */
    Lsn replayEnd(Optional<Lsn> stopAt) {
        if (stopAt.isPresent()) {
            return stopAt.get();
        }
        return endedAt != null ? endedAt : archiveEnd;
    }

    /**
     * From now on (before start) a segment is offered to PostgreSQL only once the scan has read past it
     * ({@link #readUpTo}) or has ended ({@link #offerAll}).
     */
    void offerAsRead() {
        synchronized (unoffered) {
            offeredBelow = -1;
        }
    }

    /** The scan is reading segment number: every segment numbered below it (on any timeline) may be replayed. */
    void readUpTo(long number) throws IOException {
        synchronized (unoffered) {
            if (number <= offeredBelow) {
                return;
            }
            offeredBelow = number;
            for (var it = unoffered.entrySet().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (WalSegment.parse(e.getKey(), segmentSize).number() < number) {
                    offer(e.getKey());
                    it.remove();
                }
            }
        }
    }

    /** The scan ended well: every segment may be replayed, those fetched now and those still to come. */
    void offerAll() throws IOException {
        readUpTo(Long.MAX_VALUE);
        synchronized (unoffered) {
            markDoneIfOffered();
        }
    }

    /** Where the replay ends when a gated scan has found it (endAt); null until then. */
    private volatile Lsn endedAt;

    /**
     * A time target's scan beside the replay (WalScan.gated) found where the replay ends: every segment before stop's
     * is offered, the one holding stop is offered cut there (zeroes from stop on, as a partial segment is padded:
     * PostgreSQL's replay ends at stop, the end of the WAL it has), and no later one: the script answers that there is
     * none, and a recovery that was asked to promote ends there (Recovery). Later segments are not fetched.
     */
    void endAt(Lsn stop) throws IOException {
        long last = stop.value() / segmentSize;
        int within = (int) (stop.value() % segmentSize);
        fetchNoFurtherThan(within == 0 ? last - 1 : last);
        synchronized (unoffered) {
            readUpTo(last);
            if (within > 0) {
                for (String name : segments.keySet()) {
                    Path unread = spool.resolve(name + UNREAD);
                    if (WalSegment.parse(name, segmentSize).number() == last && Files.exists(unread)) {
                        offerCut(name, unread, within);
                        unoffered.remove(name);
                    }
                }
            }
            endedAt = stop;
            if (!closed) {
                Files.writeString(spool.resolve(DONE), ""); // nothing more comes: a segment not offered now is none
            }
        }
        log.info("restore {}: the replay ends at {} (segment {} cut there, nothing after it offered)", restoreId, stop,
                new WalSegment(1, last, segmentSize).name().substring(8));
    }

    /** Offers the segment cut at within: its bytes up to there, zeroes after (a copy: the fetched file stays as it came). */
    private void offerCut(String name, Path unread, int within) throws IOException {
        Path tmp = spool.resolve(name + ".cut.tmp");
        try (FileChannel in = FileChannel.open(unread, StandardOpenOption.READ);
             FileChannel out = FileChannel.open(tmp, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                     StandardOpenOption.WRITE), PRIVATE_FILE)) {
            long copied = 0;
            while (copied < within) {
                long n = in.transferTo(copied, within - copied, out);
                if (n <= 0) {
                    throw new IOException("WAL segment " + name + " in the spool is shorter than " + within + " bytes");
                }
                copied += n;
            }
            zeroFill(out, within, segmentSize);
            out.force(true);
        }
        owner.ownOne(tmp);
        Files.move(tmp, spool.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The restore failed beside the recovery (its scan): the script fails PostgreSQL's next request, and it aborts. */
    void abort(String reason) {
        if (failure == null) {
            fail(reason);
        }
    }

    private void offerOrKeep(String name) throws IOException {
        synchronized (unoffered) {
            if (WalSegment.parse(name, segmentSize).number() < offeredBelow) {
                offer(name);
            } else {
                unoffered.put(name, spool.resolve(name + UNREAD));
            }
        }
    }

    /** A second name for the fetched file, the one the script waits for (the scan may still be reading the first). */
    private void offer(String name) throws IOException {
        Path offered = spool.resolve(name);
        Files.deleteIfExists(offered);
        Files.createLink(offered, spool.resolve(name + UNREAD));
    }

    /** "All in" tells the script that a segment of the plan not there now never comes: only once all are offered. */
    private void markDoneIfOffered() throws IOException {
        if (allFetched && offeredBelow == Long.MAX_VALUE && !closed) {
            Files.writeString(spool.resolve(DONE), "");
        }
    }

    /**
     * The scan for a time target has read the record the recovery stops at, in a segment numbered at most last: the
     * segments after it are not fetched (those already fetched stay). PostgreSQL's read-ahead may ask for the next one;
     * the spool then says there is none, once the rest is in, and the recovery stops where it would anyway.
     */
    void fetchNoFurtherThan(long last) {
        lastNeeded = last;
        synchronized (gate) {
            gate.notifyAll();
        }
    }

    private boolean beyondNeed(String segmentName) {
        return WalSegment.parse(segmentName, segmentSize).number() > lastNeeded;
    }

    /** Files the recovery may ask for. */
    int files() {
        return segments.size() + histories.size();
    }

    int fetched() {
        return fetched.get();
    }

    long fetchedBytes() {
        return fetchedBytes.get();
    }

    Optional<String> failure() {
        return Optional.ofNullable(failure);
    }

    /**
     * The spool file of a segment once it is fetched (waiting for it); empty when the archive does not hold it. Fails
     * when fetching failed or the spool was closed.
     */
    Optional<Path> segment(String name) throws IOException, InterruptedException {
        if (!segments.containsKey(name)) {
            return Optional.empty();
        }
        asked(name);
        Path file = spool.resolve(name + UNREAD);
        while (!Files.exists(file)) {
            if (failure != null) {
                throw new IOException("fetching WAL for the recovery failed: " + failure);
            }
            if (closed) {
                throw new IOException("the WAL spool was closed");
            }
            Thread.sleep(5);
        }
        return Optional.of(file);
    }

    /** The names of the segments the archive holds for this restore (whole or partial). */
    java.util.Set<String> segmentNames() {
        return java.util.Collections.unmodifiableSet(segments.keySet());
    }

    /** The newest timeline the archive holds a history file of, with that file's content (empty when there is none). */
    Optional<Map.Entry<Integer, String>> newestHistory() throws IOException {
        Optional<String> newest = histories.keySet().stream().max(Comparator.naturalOrder());
        if (newest.isEmpty()) {
            return Optional.empty();
        }
        int timeline = Integer.parseInt(newest.get().substring(0, 8), 16);
        return Optional.of(Map.entry(timeline, Files.readString(spool.resolve(newest.get()), StandardCharsets.UTF_8)));
    }

    /** How often PostgreSQL's restore_command waited for a segment not yet in the spool, and how long in all (ms). */
    long[] waits() {
        try {
            long[] total = new long[2];
            for (String line : Files.readAllLines(spool.resolve(WAITS), StandardCharsets.US_ASCII)) {
                String[] parts = line.strip().split(" ");
                if (parts.length == 2 && parts[1].matches("\\d{1,12}")) {
                    total[0]++;
                    total[1] += Long.parseLong(parts[1]);
                }
            }
            return total;
        } catch (IOException e) {
            return new long[2]; // it never waited
        }
    }

    /** The first segment the recovery asked for that is missing from the middle of the archived WAL, if any. */
    Optional<String> missingSegment() {
        try {
            return Files.readAllLines(spool.resolve(MISSING), StandardCharsets.US_ASCII).stream().filter(l -> !l.isBlank()).findFirst();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Writes the plan and the script, fetches the timeline histories, and starts fetching the segments. */
    void start() throws IOException {
        // every file is the server's as it is made: nothing walks the spool while the workers fill it
        Files.createDirectories(spool);
        Files.setPosixFilePermissions(spool, PosixFilePermissions.fromString("rwx------")); // decrypted WAL: as private as pg_wal
        owner.ownOne(spool);
        List<String> plan = new ArrayList<>(histories.keySet());
        plan.addAll(segments.keySet());
        Files.write(spool.resolve(PLAN), plan, StandardCharsets.US_ASCII);
        owner.ownOne(spool.resolve(PLAN));
        Path script = spool.resolve(SCRIPT);
        Files.writeString(script, script(), StandardCharsets.UTF_8); // the spool's path is the target's, in any script
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        owner.ownOne(script);
        started = System.nanoTime();
        for (Map.Entry<String, ObjectInfo> h : histories.entrySet()) {
            fetch(h.getValue(), spool.resolve(h.getKey()), 0, true);
        }
        pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "wal-prefetch-" + restoreId);
            t.setDaemon(true);
            return t;
        });
        if (syncBehind) {
            syncer = Executors.newFixedThreadPool(workers, r -> {
                Thread t = new Thread(r, "wal-sync-" + restoreId);
                t.setDaemon(true);
                return t;
            });
        }
        coordinator = new Thread(this::dispatch, "wal-prefetch-" + restoreId + "-watch");
        coordinator.setDaemon(true);
        coordinator.start();
    }

    /**
     * Hands the segments to the workers in replay order, each once it is at most {@link #lookahead} segments beyond
     * the newest one asked for, then waits for them all.
     */
    private void dispatch() {
        List<Future<?>> futures = new ArrayList<>();
        try {
            int position = 0;
            int checked = 0; // the fetches before this one succeeded
            for (Map.Entry<String, ObjectInfo> s : segments.entrySet()) {
                while (position > asked.get() + lookahead && !beyondNeed(s.getKey())) {
                    if (closed || failure != null) {
                        return;
                    }
                    // a failed fetch fails the spool now, not once the rest is in; in replay order, as finish() does,
                    // so a damaged segment beyond the target fails nothing while the ones before it are still coming
                    while (checked < futures.size() && futures.get(checked).isDone()) {
                        futures.get(checked).get();
                        checked++;
                    }
                    readWanted();
                    synchronized (gate) {
                        if (position > asked.get() + lookahead) {
                            gate.wait(20);
                        }
                    }
                }
                if (beyondNeed(s.getKey())) {
                    position++;
                    continue;
                }
                ObjectInfo o = s.getValue();
                boolean partial = name(o.key()).endsWith(".partial");
                futures.add(pool.submit(() -> {
                    Path unread = spool.resolve(s.getKey() + UNREAD);
                    fetch(o, unread, partial ? segmentSize : 0, !syncBehind);
                    if (syncBehind) {
                        syncs.add(syncer.submit(() -> {
                            try (FileChannel channel = FileChannel.open(unread, StandardOpenOption.WRITE)) {
                                channel.force(true);
                                offerOrKeep(s.getKey());
                            } catch (IOException | RuntimeException e) {
                                if (!closed) {
                                    fail("writing WAL segment " + s.getKey() + " out to disk failed: " + e.getMessage());
                                }
                                throw e;
                            }
                            return null;
                        }));
                    } else {
                        offerOrKeep(s.getKey());
                    }
                    return null;
                }));
                position++;
            }
            finish(futures);
        } catch (ExecutionException e) {
            if (!closed) {
                fail(e.getCause() == null ? e.getMessage() : e.getCause().getMessage());
                futures.forEach(other -> other.cancel(true));
            }
        } catch (InterruptedException | java.util.concurrent.CancellationException | java.util.concurrent.RejectedExecutionException e) {
            // closed: the recovery needs no more
        } catch (RuntimeException e) {
            // whatever it is, those waiting for a segment must hear of it rather than wait for ever
            fail("the WAL fetch stopped: " + e);
        }
    }

    private void finish(List<Future<?>> futures) {
        try {
            for (Future<?> f : futures) {
                f.get();
            }
            for (Future<?> f : List.copyOf(syncs)) {
                f.get();
            }
            synchronized (unoffered) {
                allFetched = true;
                markDoneIfOffered();
            }
            int skipped = files() - fetched.get();
            log.info("restore {}: all {} WAL files {}in the spool after {} ms", restoreId, fetched.get(),
                    skipped == 0 ? "" : "the recovery needs (" + skipped + " later ones not fetched) ", (System.nanoTime() - started) / 1_000_000);
        } catch (ExecutionException e) {
            if (!closed) {
                fail(e.getCause() == null ? e.getMessage() : e.getCause().getMessage());
                futures.forEach(other -> other.cancel(true));
            }
        } catch (InterruptedException | java.util.concurrent.CancellationException e) {
            // closed: the recovery needs no more
        } catch (IOException e) {
            fail(e.getMessage());
        }
    }

    private void fail(String reason) {
        failure = reason;
        try {
            Files.writeString(spool.resolve(FAILED), "tidemark: fetching WAL for the recovery failed: " + reason + "\n");
        } catch (IOException e) {
            log.warn("restore {}: cannot mark the WAL spool failed: {}", restoreId, e.getMessage());
        }
        log.warn("restore {}: fetching WAL failed: {}", restoreId, reason);
    }

    /** The restore_command for postgresql.auto.conf. */
    String restoreCommand() {
        // for the shell: single-quoted (a quote in the path closes, escapes and reopens); for PostgreSQL: % doubled
        return ("'" + spool.resolve(SCRIPT).toString().replace("'", "'\\''") + "'").replace("%", "%%") + " %f %p";
    }

    /**
     * Removes a spool whose restore failed or was abandoned. Its plan goes first: from then on the script answers
     * every request as fatal (exit 126), so a recovery still running aborts instead of taking a missing file for the
     * end of the WAL and promoting a partial state.
     */
    public static void remove(Path spool) {
        try {
            Files.deleteIfExists(spool.resolve(PLAN));
        } catch (IOException e) {
            // the tree goes below anyway
        }
        RestoreRunner.deleteTree(spool);
    }

    /** With {@value #FAST_PATH_PROPERTY}{@code =false} the script checks the plan for every segment (to measure the fast path). */
    static final String FAST_PATH_PROPERTY = "tidemark.restore.command-fast-path";
    private static final boolean FAST_PATH = !"false".equals(System.getProperty(FAST_PATH_PROPERTY));

    private String script() {
        String dir = spool.toString().replace("'", "'\\''");
        // offered already (the prefetch runs ahead; a file appears in the spool only whole): the plan need not be read
        String offered = FAST_PATH ? "case \"$1\" in */*|.*) ;; *) if [ -f \"$d/$1\" ]; then offered=1; fi ;; esac" : "";
        return """
                #!/bin/sh
                # restore_command of Tidemark restore %s: waits until the prefetch has brought the file into the spool.
                # exit 1: the archive holds no such file (the end of the WAL); exit 126: fetching failed, PostgreSQL aborts.
                # The replay waits for this script at every segment: a segment already in the spool is handed over with
                # the shell's own commands and one ln, no other program started.
                d='%s'
                # the spool gone (the restore failed or was abandoned): fatal, not "the end of the WAL", which would
                # end the recovery early and promote a partial state
                if [ ! -f "$d/%s" ]; then echo "tidemark: the restore's WAL spool is gone" >&2; exit 126; fi
                offered=""
                %s
                if [ -z "$offered" ] && ! grep -qx -- "$1" "$d/%s"; then
                  # the plan gone in between (the restore failed or was abandoned): fatal, not the end of the WAL
                  if [ ! -f "$d/%s" ]; then echo "tidemark: the restore's WAL spool is gone" >&2; exit 126; fi
                  # not in the archive: the end of the WAL, unless the archive holds later segments of this timeline
                  # (a hole): then say which, for Tidemark to fail the restore instead of handing over a short one
                  case "$1" in
                    *.*) ;;
                    *) last=$(grep -x -- "$(printf %%.8s "$1")[0-9A-F]*" "$d/%s" | sort | tail -n 1)
                       if [ -n "$last" ] && [ "$(expr "x$1" \\< "x$last")" = 1 ]; then echo "$1" >> "$d/%s"; fi ;;
                  esac
                  exit 1
                fi
                # the name asked for, for the fetch (which runs a bounded way ahead of it; it passes over a name read
                # empty or half written)
                printf '%%s\\n' "$1" > "$d/%s"
                # a wait is timed (for the restore's account of where its time went); the clock is read only then
                w=""
                if [ ! -f "$d/$1" ]; then w=$(date +%%s%%N); fi
                while [ ! -f "$d/$1" ]; do
                  # the spool gone (the restore failed or was abandoned): nothing will come, PostgreSQL must not wait
                  if [ ! -f "$d/%s" ]; then echo "tidemark: the restore's WAL spool is gone" >&2; exit 126; fi
                  if [ -f "$d/%s" ]; then cat "$d/%s" >&2; exit 126; fi
                  if [ -f "$d/%s" ] && [ ! -f "$d/$1" ]; then exit 1; fi
                  sleep 0.02
                done
                if [ -n "$w" ]; then echo "$1 $(( ($(date +%%s%%N) - w) / 1000000 ))" >> "$d/%s"; fi
                # a hard link costs nothing (PostgreSQL renames or recycles it, never rewrites what it replays); a copy
                # when the spool is on another file system
                ln -f "$d/$1" "$2" 2>/dev/null || exec cp "$d/$1" "$2"
                """.formatted(restoreId, dir, PLAN, offered, PLAN, PLAN, PLAN, MISSING, WANTED, PLAN, FAILED, FAILED, DONE, WAITS);
    }

    private void fetch(ObjectInfo o, Path destination, long padTo, boolean sync) throws IOException {
        Path tmp = destination.resolveSibling(destination.getFileName() + ".tmp");
        // the disk check before the restore estimated; this one is sure: the restore fails before the disk is full
        long free = Files.getFileStore(spool).getUsableSpace();
        if (free < segmentSize + FREE_RESERVE) {
            throw new IOException("not enough disk space for the WAL to replay under " + spool + ": " + (free >> 20) + " MiB free, a"
                    + " segment needs " + (segmentSize >> 20) + " MiB and " + (FREE_RESERVE >> 20) + " MiB are kept free; free space or"
                    + " restore into another file system");
        }
        long written;
        try (InputStream in = PartialSegment.openWal(repository, o.key()); FileChannel channel = FileChannel.open(tmp, java.util.Set.of(
                StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE), PRIVATE_FILE)) {
            OutputStream out = Channels.newOutputStream(channel);
            written = in.transferTo(out);
            zeroFill(channel, written, padTo);
            // PostgreSQL fsyncs each segment it restores (durable_rename) in its one replay process: written out here,
            // by the workers beside the replay, that fsync finds nothing left to write
            if (sync) {
                channel.force(true);
            }
        }
        owner.ownOne(tmp);
        // the script sees a file only once it is whole
        Files.move(tmp, destination, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fetched.incrementAndGet();
        fetchedBytes.addAndGet(o.size());
    }

    /** Writes zeroes into the file from from up to to (nothing when to is not beyond from): a partial or cut segment's rest. */
    private static void zeroFill(FileChannel out, long from, long to) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate(64 * 1024);
        for (long at = from; at < to; ) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), to - at));
            at += out.write(zeros, at);
        }
    }

    /** Stops fetching (what is not fetched yet is not needed any more) and waits for the workers. */
    @Override
    public void close() {
        closed = true;
        if (pool != null) {
            Workers.stopAndWait(pool);
        }
        if (syncer != null) {
            Workers.stopAndWait(syncer);
        }
        if (coordinator != null) {
            coordinator.interrupt();
        }
    }

    private static String name(String key) {
        return key.substring(key.lastIndexOf('/') + 1);
    }
}
