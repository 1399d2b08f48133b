package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.Lsn;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The restore's WAL scan ({@link WalScan}) compiled by the JIT at the engine's start, not while a restore runs. */
public final class WalScanWarmUp {
    private WalScanWarmUp() {
    }

    /** How often it scans its WAL to a time, plainly and gated (the JIT compiles a method after some hundreds of calls). */
    private static final int SCANS = 700;

    /**
     * Gets the JIT to compile the scan before a restore needs it: without this, the first restores after a start paid
     * for it while they ran (the C2 compiler took over a second of a core beside the replay, on two cores, and
     * compiled again when a branch it had not seen came up). Scans 4 MiB of WAL written here ({@link SyntheticWal}:
     * records of several resource managers and sizes, some across pages and segments, commits, a WAL switch, an end of
     * recovery, a tablespace and a file created, a catalog row changed in place) to a time, gated and not, and to its
     * end: the paths a restore takes. The segments (4 MiB) go to a directory of their own under the system's temporary
     * directory (not the engine's: a warm-up still running must not stand in the way of removing that), removed after.
     * Returns the records read.
     */
    public static long run() throws IOException, InterruptedException {
        return run(Path.of(System.getProperty("java.io.tmpdir")));
    }

    static long run(Path workDir) throws IOException, InterruptedException {
        long segmentSize = 1 << 20;
        SyntheticWal wal = new SyntheticWal(segmentSize, 1, 1);
        java.util.Random random = new java.util.Random(7);
        int[] fillers = {WalScan.RM_HEAP, WalScan.RM_HEAP, 9, 11, 11, 8, WalScan.RM_XLOG}; // heap, heap2, btree, standby, a page image
        Instant time = Instant.parse("2026-01-01T00:00:00Z");
        List<Instant> commits = new ArrayList<>();
        long start = wal.position();
        long backupEnd = start;
        boolean switched = false;
        byte[] shortMain = {(byte) 255, 8, 0, 0, 0, 0, 0, 0, 0, 0};
        while (wal.position() < 4 * segmentSize) {
            int rows = 1 + random.nextInt(20);
            for (int i = 0; i < rows; i++) {
                int rmid = fillers[random.nextInt(fillers.length)];
                int info = rmid == WalScan.RM_XLOG ? 0xb0 : 0x00; // XLOG_FPI
                wal.record(rmid, info, new byte[rmid == WalScan.RM_XLOG ? 8_200 : 30 + random.nextInt(300)]);
            }
            // now and then what a restore reads the body of, or holds the replay before: each kind at least once
            switch (commits.size() % 100) {
                case 20 -> wal.endOfRecovery(time); // a recovery ended before the targets: read on
                case 30 -> wal.record(WalScan.RM_TBLSPC, WalScan.XLOG_TBLSPC_CREATE, new byte[]{(byte) 255, 9, 1, 0, 0, 0, 'w', 'a', 'r', 'm', 0});
                case 40 -> {
                    wal.record(WalScan.RM_SMGR, WalScan.XLOG_SMGR_CREATE, new byte[]{(byte) 255, 16, 127, 6, 0, 0, 5, 0, 0, 0, 1, 64, 0, 0, 0, 0, 0, 0});
                    for (int i = 0; i < 10; i++) {
                        wal.record(WalScan.RM_HEAP, 0x00, new byte[2_000]); // its rows, past the hold of one scan below
                    }
                }
                case 50 -> wal.record(WalScan.RM_HEAP, WalScan.XLOG_HEAP_INPLACE, new byte[20]); // a database's own catalog row
                case 51 -> {
                    byte[] shared = new byte[20];
                    shared[4] = (byte) 0x80; // its block's tablespace (after id, fork flags, data length): 1664
                    shared[5] = 6;
                    wal.record(WalScan.RM_HEAP, WalScan.XLOG_HEAP_INPLACE, shared);
                }
                case 60 -> wal.record(WalScan.RM_DBASE, 0x00, shortMain);
                case 61 -> wal.record(WalScan.RM_RELMAP, 0x00, shortMain);
                case 62 -> wal.record(WalScan.RM_REPLORIGIN, 0x00, shortMain);
                case 63 -> wal.transactionEnd(WalScan.XLOG_XACT_PREPARE, time, 0, false, false);
                case 70 -> wal.record(WalScan.RM_XACT, 0x00, new byte[]{0, 0, 0, 0}); // a commit whose time cannot be read
                case 80, 81 -> { // hazards one after the other, before a commit covers them
                    byte[] file = {(byte) 255, 16, 127, 6, 0, 0, 5, 0, 0, 0, 2, 64, 0, 0, 0, 0, 0, 0};
                    if (commits.size() % 100 == 80) {
                        wal.record(WalScan.RM_SMGR, WalScan.XLOG_SMGR_CREATE, file);
                        wal.record(WalScan.RM_SMGR, WalScan.XLOG_SMGR_CREATE, file);
                    }
                    wal.record(WalScan.RM_DBASE, 0x00, shortMain);
                    wal.record(WalScan.RM_SMGR, WalScan.XLOG_SMGR_CREATE, file);
                    wal.record(WalScan.RM_RELMAP, 0x00, shortMain);
                }
                default -> {
                }
            }
            if (!switched && wal.position() > segmentSize * 5 / 2) {
                wal.walSwitch(); // the rest of the third segment unused
                switched = true;
            }
            time = time.plusMillis(1);
            int kind = commits.size() % 7;
            long at = wal.transactionEnd(kind == 5 ? 0x20 : kind == 6 ? 0x30 : 0x00, time, kind == 1 ? 300 : kind * 8, kind == 2, kind == 3);
            commits.add(time);
            if (commits.size() == 5) {
                backupEnd = at; // the gate of a restore's scan: from its backup's end, a little after where the scan starts
            }
        }
        Path dir = java.nio.file.Files.createTempDirectory(workDir, "tidemark-wal-scan-warm-up-");
        dir.toFile().deleteOnExit();
        try {
            List<String> names = wal.writeTo(dir);
            names.forEach(n -> dir.resolve(n).toFile().deleteOnExit()); // should the engine stop first
            // three classes of Segments, each with its own methods: the JIT compiles the scan's calls through it as calls
            // to any class, not as a guess at one class that a restore's own would make it throw away
            long[] told = new long[1];
            WalScan.Segments[] kinds = {new WalScan.DirectorySegments(dir, names), new WalScan.DirectorySegments(dir, names) {
                @Override
                public java.util.Set<String> names() {
                    return java.util.Set.copyOf(super.names());
                }

                @Override
                public void replayableBelow(Lsn lsn) {
                    told[0] += lsn.value();
                }
            }, new WalScan.DirectorySegments(dir, names) {
                @Override
                public Optional<Path> segment(String name) {
                    return name.isEmpty() ? Optional.empty() : super.segment(name);
                }

                @Override
                public void tablespaceCreated(WalScan.TablespaceCreation creation) {
                    told[0] += creation.oid();
                }
            }};
            List<WalScan.Timeline> path = List.of(new WalScan.Timeline(1, 0));
            Lsn from = new Lsn(start);
            WalScan[] plain = new WalScan[kinds.length];
            WalScan[] gated = new WalScan[kinds.length];
            for (int k = 0; k < kinds.length; k++) {
                plain[k] = new WalScan(kinds[k], path, segmentSize); // each keeps the segment it read last: read once
                gated[k] = new WalScan(kinds[k], path, segmentSize).gated(k == 0 ? from : new Lsn(backupEnd));
            }
            gated[0].holdNewFiles = 8_192; // a bulk load into a new file replayed on past the hold
            long records = 0;
            for (int i = 0; i < SCANS; i++) {
                int k = i % kinds.length;
                if (i % 100 < kinds.length) {
                    // among the others from the start (a branch the JIT has not seen by the time it compiles is left out
                    // of what it compiles, and taken later throws that away): to the end, past the last commit, halfway
                    records += plain[k].scan(from, Optional.empty()).records();
                    records += gated[k].scan(from, Optional.of(time.plusSeconds(1))).records();
                    records += gated[k].scan(from, Optional.of(commits.get(commits.size() / 2))).records();
                }
                Optional<Instant> target = Optional.of(commits.get(10 + i % 90));
                records += plain[k].scan(from, target).records();
                records += gated[k].scan(from, target).records();
            }
            return records + told[0];
        } finally {
            RestoreRunner.deleteTree(dir);
        }
    }
}
