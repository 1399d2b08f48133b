package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads the WAL a restore replays, record by record (headers, and the bodies of the few records it looks at), along
 * the path of timelines the recovery follows, before or beside the replay. It finds two things PostgreSQL's own
 * recovery target cannot handle safely:
 * <ul>
 *   <li><b>Where the state at the target time ends.</b> PostgreSQL's recovery_target_time stops at the first commit
 *   after the target, so every record before that commit is replayed, also the parts of a later statement that are not
 *   transactional (a DROP DATABASE deletes the database's files before its commit). The scan gives the end of the last
 *   commit at or before the target (a recovery_target_lsn there stops before anything that came after it) and, gated
 *   ({@link #gated}), how far the replay may run before that stop is known and where it ends.</li>
 *   <li><b>Tablespaces created in that WAL.</b> Replay creates them at the absolute location written in the WAL: a
 *   copy restored beside its source would write into the source's live tablespace.</li>
 * </ul>
 * The layout read here (page headers, the 24-byte record header, block and main-data headers, the commit and
 * tablespace records' main data) has been the same since PostgreSQL 9.5; WAL is read little-endian (as written on
 * x86 and ARM servers).
 */
public final class WalScan {
    static final int PAGE = 8192;
    private static final int SHORT_HEADER = 24;
    private static final int LONG_HEADER = 40;
    private static final int XLP_FIRST_IS_CONTRECORD = 0x0001;
    private static final int XLP_LONG_HEADER = 0x0002;
    /** A page after a record a crash cut short: reading starts again on it (PostgreSQL 10.19/11.14/12.9/13.5/14.1+). */
    private static final int XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
    private static final int RECORD_HEADER = 24;
    static final int RM_XLOG = 0;
    static final int RM_XACT = 1;
    static final int RM_SMGR = 2;
    /** XLOG_SMGR_CREATE: a relation's file created (by a transaction that may not commit before the stop). */
    static final int XLOG_SMGR_CREATE = 0x10;
    static final int RM_DBASE = 4;
    static final int RM_TBLSPC = 5;
    static final int RM_RELMAP = 7;
    static final int RM_HEAP = 10;
    static final int RM_REPLORIGIN = 19;
    /** XLOG_HEAP_INPLACE (XLOG_HEAP_OPMASK 0x70): a catalog row changed in place, outside any transaction's control. */
    static final int XLOG_HEAP_INPLACE = 0x70;
    /** The tablespace of the shared catalogs (pg_database among them). */
    private static final long GLOBAL_TABLESPACE = 1664;
    /** XLOG_PAGE_MAGIC from PostgreSQL 15 on, where a block image's flags changed (compression methods). */
    private static final int PAGE_MAGIC_15 = 0xD110;
    /** XLOG_XACT_PREPARE: a transaction prepared, which a recovery ending after it keeps prepared. */
    static final int XLOG_XACT_PREPARE = 0x10;
    private static final int XLOG_SWITCH = 0x40;
    /** xl_end_of_recovery, whose main data starts with the time the recovery ended (a promotion that began a timeline). */
    private static final int XLOG_END_OF_RECOVERY = 0x90;
    static final int XLOG_TBLSPC_CREATE = 0x00;
    /** PostgreSQL's timestamps count microseconds from 2000-01-01 00:00 UTC. */
    private static final Instant POSTGRES_EPOCH = Instant.parse("2000-01-01T00:00:00Z");
    private static final VarHandle LE_INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    /** A tablespace the WAL creates: at lsn, with its oid and the location replay creates it at (null: unreadable). */
    record TablespaceCreation(Lsn lsn, long oid, String location) {
    }

    /**
     * lastCommitEnd/lastCommitTime: the end of the last commit (or abort) at or before the target, if any after the
     * start; stoppedAt: the first commit after the target, or the end of a recovery after it (the start of a later
     * timeline), if the scan found one (else the scan went to the end of the WAL); end: where the readable WAL ended or the scan stopped;
     * tablespaces: those created before that point; readTo: the end of the last record read (the one the scan stopped at included).
     */
    record Result(Optional<Lsn> lastCommitEnd, Optional<Instant> lastCommitTime, Optional<Lsn> stoppedAt, Lsn end,
                  List<TablespaceCreation> tablespaces, long records, Optional<String> hole, boolean unreadableCommit, Lsn readTo,
                  Optional<Lsn> replayStop, List<CreatedFile> createdFiles) {
    }

    /**
     * A relation file the WAL creates (XLOG_SMGR_CREATE after the backup's end) that a gated scan let the replay pass
     * before a commit at or before the target followed it (the hold's end, HOLD_NEW_FILES_BYTES): in that tablespace,
     * database and relation file number. Replayed for a transaction the stop leaves out, it stays in the copy, used by
     * nothing (LeftOutFiles finds and removes those).
     */
    record CreatedFile(long tablespace, long database, long relation) {
    }

    /**
     * How much WAL the gated replay is held before a relation file created, waiting for a commit at or before the target
     * to follow: beyond it (a bulk load into a new or truncated table) the replay goes on, and a file left behind is removed
     * after the recovery (LeftOutFiles). The system property {@value #HOLD_NEW_FILES_PROPERTY} sets it.
     */
    static final String HOLD_NEW_FILES_PROPERTY = "tidemark.restore.hold-new-files-bytes";
    static final long HOLD_NEW_FILES_BYTES = 64L << 20;

    /** A page says the record being read was cut short by a crash: reading goes on at resumeAt. */
    private static final class Overwritten extends Exception {
        final long resumeAt;

        Overwritten(long resumeAt) {
            super(null, null, false, false);
            this.resumeAt = resumeAt;
        }
    }

    /** The segment files of the recovery's path; empty when the archive does not hold one (the end of the WAL). */
    interface Segments {
        Optional<Path> segment(String name) throws IOException, InterruptedException;

        /** Every segment name the archive holds for the restore. */
        java.util.Set<String> names();

        /**
         * Told of a tablespace creation as soon as it is read, before the scan reads on (so before it asks for a later
         * segment): a replay that follows the scan can be stopped short of it.
         */
        default void tablespaceCreated(TablespaceCreation creation) throws IOException {
        }

        /**
         * A gated scan ({@link #gated}) has found every record before lsn safe to replay: told as lsn enters a later
         * segment, so the segments numbered below lsn's may be offered to the replay.
         */
        default void replayableBelow(Lsn lsn) throws IOException {
        }
    }

    /** One timeline of the path the recovery follows: it holds the WAL from begin (a switch point) on. */
    record Timeline(int id, long begin) {
    }

    private final Segments segments;
    private final List<Timeline> path;
    private final long segmentSize;
    private final byte[] buffer;
    private long loaded = -1;
    private boolean loadedWhole;
    /** The newest segment the scan needed (the one it broke off at, when the WAL ended). */
    private long lastTried = -1;
    /** Gated (a time target read beside the replay): hazards from here on hold the replay back (the backup's end). */
    private Lsn gateFrom;
    /** The XLOG_PAGE_MAGIC of the last page header read (the server version's WAL layout). */
    private int pageMagic;
    /** Gated: how much WAL the replay is held before a relation file created ({@link #HOLD_NEW_FILES_BYTES}). */
    long holdNewFiles = Long.getLong(HOLD_NEW_FILES_PROPERTY, HOLD_NEW_FILES_BYTES);

    /** path: oldest first, each with the LSN its WAL begins at (0 for the first). */
    WalScan(Segments segments, List<Timeline> path, long segmentSize) {
        this.segments = segments;
        this.path = List.copyOf(path);
        this.segmentSize = segmentSize;
        this.buffer = new byte[(int) segmentSize];
    }

    /**
     * A time target's scan that runs beside the replay instead of before it. The replay may not run past the point the
     * restore stops at, which is known only once the scan has found the first commit after the target; so it is told
     * (Segments.replayableBelow) how far the records are <i>safe</i>: replaying them changes nothing the state at the
     * target shows, whether or not the stop comes before them. After the last commit at or before the target, a record
     * that is neither a commit nor an abort belongs to a transaction still open at the stop, which the end of the
     * recovery rolls back, or changes what no commit after the target has made visible (vacuum, pruning: what they
     * remove was dead through commits at or before it). Not safe, the <i>hazards</i>, which the replay is held before
     * until a commit at or before the target follows them: a database created or dropped and a tablespace created or
     * dropped (done on disk before their commit: ReplayHazardsTest), a shared catalog's row changed in place (DROP
     * DATABASE marks the database invalid so, before its files go, from PostgreSQL 15.4/14.9/13.12 on), a relation map
     * changed (before its commit), a relation's file created (a table created, truncated or rewritten: replayed for a
     * transaction the stop leaves out, the file would stay in the copy, used by nothing; held for at most
     * {@link #HOLD_NEW_FILES_BYTES} of WAL, then replayed on and removed after the recovery if it was), a transaction prepared (the
     * recovery would keep it prepared), a replication origin advanced by hand, a commit whose time cannot be read. The
     * replay stops
     * ({@link Result#replayStop()}) at the first hazard after the last commit at or before the target, or else at the
     * first commit after it, or at the end of the WAL: the same state as a stop right after that last commit. Hazards
     * in the backup's own WAL (before from, its end) are replayed as before: no stop can lie there.
     */
    WalScan gated(Lsn from) {
        this.gateFrom = from;
        return this;
    }

    /**
     * The path of timelines recovery_target_timeline = 'latest' follows: the history of the newest timeline the
     * archive has a history file of (oldest first), or the backup's timeline alone.
     */
    static List<Timeline> path(int backupTimeline, Optional<String> newestHistory, int newestTimeline) {
        List<Timeline> path = new ArrayList<>();
        if (newestHistory.isEmpty()) {
            path.add(new Timeline(backupTimeline, 0));
            return path;
        }
        long begin = 0;
        for (dev.tidemark.engine.wal.WalStreamer.Fork f : dev.tidemark.engine.wal.WalStreamer.forks(newestHistory.get())) {
            path.add(new Timeline(f.tli(), begin)); // f.begin(): where f.tli() ended and the next timeline began
            begin = f.begin().value();
        }
        path.add(new Timeline(newestTimeline, begin));
        if (path.stream().noneMatch(t -> t.id() == backupTimeline)) {
            // the newest history does not descend from the backup's timeline: recovery could not follow it either
            return List.of(new Timeline(backupTimeline, 0));
        }
        return path;
    }

    /**
     * Reads from start (a record boundary: the backup's redo point) until the first commit after target (or the end of
     * a recovery after it), or to the end of the readable WAL when there is no target (or no such record).
     * <p>
     * The loop reads each record's header where it lies when the header is whole on its page (nearly always) and reads
     * a record's body only for the few kinds it looks at ({@link Walk#wants}); what it does with those is in
     * {@link Walk}. Kept small on purpose: a restore runs it once, over hundreds of thousands of records, and the JIT
     * compiles it while the restore runs (a loop of 1,459 bytecodes took the C2 compiler over a second of a core).
     */
    Result scan(Lsn start, Optional<Instant> target) throws IOException, InterruptedException {
        Walk w = new Walk(start.value(), target.map(t -> ChronoUnit.MICROS.between(POSTGRES_EPOCH, t)));
        long pos = start.value();
        while (true) {
            if (pos % PAGE == 0) {
                int header = pageHeader(pos);
                if (header < 0) {
                    break;
                }
                pos += header;
            }
            if (w.gating) {
                w.beforeRecord(pos);
            }
            long end;
            int info;
            int rmid;
            byte[] record = null;
            try {
                long totalLength;
                if (PAGE - pos % PAGE >= RECORD_HEADER && load(pos)) {
                    int at = (int) (pos % segmentSize);
                    totalLength = Integer.toUnsignedLong((int) LE_INT.get(buffer, at));
                    info = buffer[at + 16] & 0xff;
                    rmid = buffer[at + 17] & 0xff;
                } else {
                    byte[] head = read(pos, RECORD_HEADER); // split across pages, or past the readable WAL (null)
                    if (head == null) {
                        break;
                    }
                    totalLength = Integer.toUnsignedLong((int) LE_INT.get(head, 0));
                    info = head[16] & 0xff;
                    rmid = head[17] & 0xff;
                }
                if (totalLength < RECORD_HEADER || totalLength > 1L << 30) {
                    break; // zeroes: the end of the WAL written so far
                }
                if (w.wants(info, rmid)) {
                    record = read(pos, (int) totalLength);
                    if (record == null) {
                        break; // the record continues past the readable WAL: it was never completed
                    }
                }
                end = advance(pos, totalLength);
                if (end < 0) {
                    break;
                }
            } catch (Overwritten o) {
                pos = o.resumeAt; // the record was cut by a crash and never replayed: PostgreSQL goes on where this page says
                continue;
            }
            w.records++;
            w.readTo = Math.max(w.readTo, end);
            if (w.gating && pos >= gateFrom.value()) {
                w.gate(pos, info, rmid, record);
            }
            if (record != null && w.stopsAt(pos, end, info, rmid, record)) {
                break;
            }
            if (rmid == RM_XLOG && (info & 0xf0) == XLOG_SWITCH) {
                // the rest of the segment holding the switch's end is unused (ReserveXLogSwitch)
                pos = end % segmentSize == 0 ? end : (end / segmentSize + 1) * segmentSize;
            } else {
                pos = (end + 7) & ~7L; // records start MAXALIGNed
            }
        }
        // gated: the first hazard after the last commit at or before the target, else that first commit after it (pos), or
        // the end of the WAL (pos)
        Optional<Lsn> replayStop = w.gating ? Optional.of(new Lsn(w.hazard != null ? w.hazard : pos)) : Optional.empty();
        return new Result(Optional.ofNullable(w.lastCommitEnd), Optional.ofNullable(w.lastCommitTime), Optional.ofNullable(w.stoppedAt),
                new Lsn(pos), List.copyOf(w.tablespaces), w.records, w.stoppedAt == null ? hole(pos) : Optional.empty(),
                w.unreadableCommit, new Lsn(w.readTo), replayStop, List.copyOf(w.newFiles));
    }

    /** What one scan has found so far, and what it does with the records whose bodies it reads. */
    private final class Walk {
        final Optional<Long> targetMicros;
        final boolean gating;
        Lsn lastCommitEnd;
        Instant lastCommitTime;
        Lsn stoppedAt;
        final List<TablespaceCreation> tablespaces = new ArrayList<>();
        long records;
        long readTo;
        boolean unreadableCommit;
        /** Gated: the first hazard after the last commit at or before the target. */
        Long hazard;
        /** Gated: every hazard held since then is a relation file created. */
        boolean onlyNewFiles;
        /** Gated: files the hold let the replay pass. */
        final java.util.Set<CreatedFile> newFiles = new java.util.LinkedHashSet<>();
        /** Gated: created since the hazard held now. */
        final List<CreatedFile> heldFiles = new ArrayList<>();
        /** Gated: told once a commit at or before the target follows. */
        final List<TablespaceCreation> unconfirmed = new ArrayList<>();
        long reported;

        Walk(long start, Optional<Long> targetMicros) {
            this.targetMicros = targetMicros;
            this.gating = gateFrom != null && targetMicros.isPresent();
            this.readTo = start;
            this.reported = start / segmentSize;
        }

        /** Gated, before each record: the hold on new files ended, and the segments found safe offered. */
        void beforeRecord(long pos) throws IOException {
            if (hazard != null && onlyNewFiles && pos - hazard >= WalScan.this.holdNewFiles) {
                hazard = null; // a bulk load: replayed on; should its transaction not commit before the stop, its file is removed after
                if (newFiles.size() < 1_000_000) {
                    newFiles.addAll(heldFiles);
                }
                heldFiles.clear();
            }
            if (hazard == null && pos / segmentSize > reported) {
                reported = pos / segmentSize;
                segments.replayableBelow(new Lsn(pos));
            }
        }

        /** Whether the scan reads the body of a record of this kind. */
        boolean wants(int info, int rmid) {
            return switch (rmid) {
                case RM_XACT -> isCommitOrAbort(info);
                case RM_TBLSPC -> (info & 0xf0) == XLOG_TBLSPC_CREATE;
                case RM_XLOG -> targetMicros.isPresent() && (info & 0xf0) == XLOG_END_OF_RECOVERY;
                case RM_HEAP -> gating && (info & 0x70) == XLOG_HEAP_INPLACE;
                case RM_SMGR -> gating && (info & 0xf0) == XLOG_SMGR_CREATE;
                default -> false;
            };
        }

        /** Gated, a record after the backup's end: whether it is a hazard the replay is held before. */
        void gate(long pos, int info, int rmid, byte[] record) {
            boolean newFile = rmid == RM_SMGR && (info & 0xf0) == XLOG_SMGR_CREATE;
            boolean other = rmid == RM_DBASE || rmid == RM_TBLSPC || rmid == RM_RELMAP || rmid == RM_REPLORIGIN
                    || rmid == RM_XACT && (info & 0x70) == XLOG_XACT_PREPARE
                    || rmid == RM_HEAP && (info & 0x70) == XLOG_HEAP_INPLACE && !localCatalog(record);
            if (!newFile && !other) {
                return;
            }
            if (newFile) {
                ByteBuffer main = mainData(record);
                if (main != null && main.remaining() >= 12 && heldFiles.size() < 1_000_000) {
                    heldFiles.add(new CreatedFile(Integer.toUnsignedLong(main.getInt(0)), Integer.toUnsignedLong(main.getInt(4)),
                            Integer.toUnsignedLong(main.getInt(8))));
                }
            }
            if (hazard == null) {
                hazard = pos;
                onlyNewFiles = newFile;
            } else if (other) {
                onlyNewFiles = false;
            }
        }

        /**
         * A record whose body was read (a commit or abort, an end of recovery, a tablespace created; gated also an in-place
         * update or a new file, which {@link #gate} has handled): whether the scan stops at it.
         */
        boolean stopsAt(long pos, long end, int info, int rmid, byte[] record) throws IOException {
            if (rmid == RM_XACT && isCommitOrAbort(info)) {
                ByteBuffer main = mainData(record);
                if (main == null || main.remaining() < 8) {
                    unreadableCommit = true; // its time cannot be compared: the caller falls back to the target time
                    if (gating && pos >= gateFrom.value()) {
                        // whether it is before the target or after, the replay must not pass it unknowing
                        hazard = hazard == null ? pos : hazard;
                        onlyNewFiles = false;
                    }
                    return false;
                }
                long micros = main.getLong(0);
                if (targetMicros.isPresent() && micros > targetMicros.get()) {
                    stoppedAt = new Lsn(pos);
                    return true;
                }
                lastCommitEnd = new Lsn(end);
                lastCommitTime = POSTGRES_EPOCH.plus(micros, ChronoUnit.MICROS);
                if (hazard != null) {
                    // the hazards before this commit are part of the state at the target: the replay may pass them
                    hazard = null;
                    heldFiles.clear();
                    for (TablespaceCreation t : unconfirmed) {
                        segments.tablespaceCreated(t);
                    }
                    unconfirmed.clear();
                }
            } else if (rmid == RM_XLOG && (info & 0xf0) == XLOG_END_OF_RECOVERY && targetMicros.isPresent()) {
                // a timeline begun by a promotion after the target (a restore's, a failover's): everything after it was
                // written later still, so no commit at or before the target follows. The scan stops here instead of
                // reading that timeline to its end (after a restore in place, whose new timeline may hold no commit yet)
                ByteBuffer main = mainData(record);
                if (main != null && main.remaining() >= 8 && main.getLong(0) > targetMicros.get()) {
                    stoppedAt = new Lsn(pos);
                    return true;
                }
            } else if (rmid == RM_TBLSPC && (info & 0xf0) == XLOG_TBLSPC_CREATE) {
                ByteBuffer main = mainData(record);
                if (main == null || main.remaining() < 4) {
                    tablespaces.add(new TablespaceCreation(new Lsn(pos), 0, null)); // unreadable: a hazard all the same
                } else {
                    long oid = Integer.toUnsignedLong(main.getInt(0));
                    int from = record.length - main.remaining() + 4; // the slice's bytes are the record's last ones
                    int to = from;
                    while (to < record.length && record[to] != 0) {
                        to++;
                    }
                    String location = new String(record, from, to - from, StandardCharsets.UTF_8);
                    tablespaces.add(new TablespaceCreation(new Lsn(pos), oid, location));
                }
                TablespaceCreation created = tablespaces.get(tablespaces.size() - 1);
                if (gating && hazard != null) {
                    unconfirmed.add(created); // held before: told only if a commit at or before the target follows
                } else {
                    segments.tablespaceCreated(created);
                }
            }
            return false;
        }
    }

    /**
     * The WAL ended (no commit after the target was found) although the archive holds later segments on the path:
     * the segment where it broke off (missing, or unreadable from that point), not the end of the WAL.
     */
    private Optional<String> hole(long pos) {
        long number = Math.max(pos / segmentSize, lastTried);
        boolean later = segments.names().stream().map(n -> WalSegment.parse(n, segmentSize))
                .anyMatch(s -> s.number() > number && s.timeline() == timelineOf(s.number()));
        return later ? Optional.of(new WalSegment(timelineOf(number), number, segmentSize).name()) : Optional.empty();
    }

    /**
     * The locations of tablespaces that the WAL of a base backup's own window (its start to its stop) creates. Such a
     * backup holds the tablespace, but its replay points the tablespace at that location again, so a copy restored
     * beside from it is refused: the caller takes another backup. The segments are decoded into workDir for the read.
     */
    public static List<String> tablespacesCreatedDuring(dev.tidemark.storage.Repository repository,
                                                        dev.tidemark.engine.basebackup.BackupManifest m, Path workDir)
            throws IOException, InterruptedException {
        Optional<dev.tidemark.engine.basebackup.BackupArchive.Wal> wal =
                new dev.tidemark.engine.basebackup.BackupArchive(repository).wal(m);
        if (wal.isEmpty()) {
            return List.of();
        }
        Path dir = java.nio.file.Files.createTempDirectory(workDir, "wal-scan-");
        try {
            java.util.Set<String> names = new java.util.HashSet<>();
            for (dev.tidemark.storage.ObjectInfo o : wal.get().segments()) {
                String name = o.key().substring(o.key().lastIndexOf('/') + 1, o.key().lastIndexOf('/') + 25);
                try (java.io.InputStream in = dev.tidemark.storage.PartialSegment.openWal(repository, o.key());
                     FileChannel out = FileChannel.open(dir.resolve(name), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    in.transferTo(java.nio.channels.Channels.newOutputStream(out));
                    if (out.size() < m.walSegmentSize()) {
                        out.write(ByteBuffer.allocate(1), m.walSegmentSize() - 1); // a partial one, padded with zeroes
                    }
                }
                names.add(name);
            }
            Result r = new WalScan(new DirectorySegments(dir, names), List.of(new Timeline(m.timeline(), 0)), m.walSegmentSize()).scan(Lsn.parse(m.startLsn()),
                    Optional.empty());
            Lsn stop = Lsn.parse(m.stopLsn());
            return r.tablespaces().stream().filter(t -> t.lsn().compareTo(stop) < 0)
                    .filter(t -> t.location() == null || t.location().startsWith("/"))
                    .map(t -> t.location() == null ? "(unreadable)" : t.location()).toList();
        } finally {
            RestoreRunner.deleteTree(dir);
        }
    }

    /**
     * Whether an in-place update's block lies outside the shared catalogs (a database's own pg_class: VACUUM's page
     * counts and frozen ids, which change nothing the state at a time shows). False when the block header cannot be
     * read (null, or a layout this does not know): taken for a hazard.
     */
    private boolean localCatalog(byte[] record) {
        if (record == null || record.length < RECORD_HEADER + 4) {
            return false;
        }
        ByteBuffer b = le(record);
        int i = RECORD_HEADER;
        if ((record[i] & 0xff) > 32) {
            return false; // not a block reference first
        }
        int forkFlags = record[i + 1] & 0xff;
        i += 4; // id, fork_flags, data_length
        if ((forkFlags & 0x10) != 0) { // BKPBLOCK_HAS_IMAGE: length, hole_offset, bimg_info
            if (record.length < i + 5) {
                return false;
            }
            int bimgInfo = record[i + 4] & 0xff;
            i += 5;
            boolean hole = (bimgInfo & 0x01) != 0;
            boolean compressed = pageMagic >= PAGE_MAGIC_15 ? (bimgInfo & 0x1c) != 0 : (bimgInfo & 0x02) != 0;
            if (hole && compressed) {
                i += 2; // hole_length
            }
        }
        if ((forkFlags & 0x80) != 0 || record.length < i + 12) { // BKPBLOCK_SAME_REL: no relation of its own here
            return false;
        }
        return Integer.toUnsignedLong(b.getInt(i)) != GLOBAL_TABLESPACE;
    }

    /** COMMIT, ABORT, COMMIT_PREPARED, ABORT_PREPARED: the records a time target compares (XLOG_XACT_OPMASK 0x70). */
    private static boolean isCommitOrAbort(int info) {
        int op = info & 0x70;
        return op == 0x00 || op == 0x20 || op == 0x30 || op == 0x40;
    }

    /** The record's main data (always its last bytes), from its block and data headers; null when it cannot be told. */
    private static ByteBuffer mainData(byte[] record) {
        ByteBuffer b = le(record);
        int i = RECORD_HEADER;
        long mainLength = -1;
        while (i < record.length) {
            int id = record[i] & 0xff;
            if (id == 255) { // XLR_BLOCK_ID_DATA_SHORT
                mainLength = i + 1 < record.length ? record[i + 1] & 0xff : -1;
                break;
            } else if (id == 254) { // XLR_BLOCK_ID_DATA_LONG
                mainLength = i + 4 < record.length ? Integer.toUnsignedLong(b.getInt(i + 1)) : -1;
                break;
            } else if (id == 253) { // XLR_BLOCK_ID_ORIGIN
                i += 3;
            } else if (id == 252) { // XLR_BLOCK_ID_TOPLEVEL_XID
                i += 5;
            } else {
                return null; // block references: not a record this scan reads the body of
            }
        }
        if (mainLength < 0 || mainLength > record.length - RECORD_HEADER) {
            return null;
        }
        return b.position((int) (record.length - mainLength)).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Checks the page header at pos (a page start): its address must be pos, else the WAL ends here (a recycled or
     * unwritten page). Returns the header's size, or -1.
     */
    private int pageHeader(long pos) throws IOException, InterruptedException {
        if (!load(pos)) {
            return -1;
        }
        int at = (int) (pos % segmentSize);
        ByteBuffer b = le(buffer);
        pageMagic = b.getShort(at) & 0xffff;
        int info = b.getShort(at + 2) & 0xffff;
        long address = b.getLong(at + 8);
        if (address != pos) {
            return -1;
        }
        return (info & XLP_LONG_HEADER) != 0 ? LONG_HEADER : SHORT_HEADER;
    }

    /** The position after length bytes of record data from pos (page headers skipped), or -1 past the readable WAL. */
    private long advance(long pos, long length) throws IOException, InterruptedException, Overwritten {
        long left = length;
        while (left > 0) {
            if (pos % PAGE == 0) {
                int header = continuation(pos);
                if (header < 0) {
                    return -1;
                }
                pos += header;
            }
            long onPage = Math.min(left, PAGE - pos % PAGE);
            pos += onPage;
            left -= onPage;
        }
        return pos;
    }

    /** length bytes of record data from pos (page headers skipped), or null past the readable WAL. */
    private byte[] read(long pos, int length) throws IOException, InterruptedException, Overwritten {
        byte[] out = new byte[length];
        int done = 0;
        while (done < length) {
            if (pos % PAGE == 0) {
                int header = done == 0 ? pageHeader(pos) : continuation(pos);
                if (header < 0) {
                    return null;
                }
                pos += header;
            }
            if (!load(pos)) {
                return null;
            }
            int n = (int) Math.min(length - done, PAGE - pos % PAGE);
            System.arraycopy(buffer, (int) (pos % segmentSize), out, done, n);
            done += n;
            pos += n;
        }
        return out;
    }

    /** A page a record continues onto: its header, which must say so (or that a crash cut the record short). */
    private int continuation(long pos) throws IOException, InterruptedException, Overwritten {
        int header = pageHeader(pos);
        if (header < 0) {
            return -1;
        }
        int info = le(buffer).getShort((int) (pos % segmentSize) + 2) & 0xffff;
        if ((info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) != 0) {
            throw new Overwritten(pos + header);
        }
        return (info & XLP_FIRST_IS_CONTRECORD) != 0 ? header : -1;
    }

    /** Loads the segment holding pos, from the timeline the recovery reads it from. */
    private boolean load(long pos) throws IOException, InterruptedException {
        long number = pos / segmentSize;
        lastTried = Math.max(lastTried, number);
        if (number == loaded) {
            return loadedWhole;
        }
        loaded = number;
        loadedWhole = false;
        Optional<Path> file = segments.segment(new WalSegment(timelineOf(number), number, segmentSize).name());
        if (file.isEmpty()) {
            return false;
        }
        try (FileChannel channel = FileChannel.open(file.get(), StandardOpenOption.READ)) {
            ByteBuffer into = ByteBuffer.wrap(buffer);
            while (into.hasRemaining() && channel.read(into) >= 0) {
                // read the whole segment
            }
            loadedWhole = !into.hasRemaining();
        }
        return loadedWhole;
    }

    /** Segment files in one directory, by name (the ones a restore's scan reads beside it decoded there first). */
    static class DirectorySegments implements Segments {
        private final Path dir;
        private final java.util.Set<String> names;

        DirectorySegments(Path dir, java.util.Collection<String> names) {
            this.dir = dir;
            this.names = java.util.Set.copyOf(names);
        }

        @Override
        public Optional<Path> segment(String name) {
            return names.contains(name) ? Optional.of(dir.resolve(name)) : Optional.empty();
        }

        @Override
        public java.util.Set<String> names() {
            return names;
        }

        @Override
        public void tablespaceCreated(TablespaceCreation creation) {
            // no replay follows the scan: nothing to hold back
        }

        @Override
        public void replayableBelow(Lsn lsn) {
            // no replay follows the scan: nothing to offer
        }
    }

    /**
     * The timeline whose file of this segment the recovery reads: the newest of the path that began at or before the
     * segment (a switch segment is read from the new timeline, which holds a copy of the old one up to the switch).
     */
    private int timelineOf(long segmentNumber) {
        int timeline = path.get(0).id();
        for (Timeline t : path) {
            if (t.begin() / segmentSize <= segmentNumber) {
                timeline = t.id();
            }
        }
        return timeline;
    }

    private static ByteBuffer le(byte[] bytes) {
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }
}
