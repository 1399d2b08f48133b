package dev.tidemark.engine.catalog.api;

import java.time.Instant;
import java.util.List;

/**
 * Everything that happened to a protected database, in the order it happened: the audit log and the source of every
 * view. Events carry object keys and checksums, never a secret nor a large payload (manifests live in the repository).
 */
public sealed interface DatabaseEvent {
    String databaseId();

    record DatabaseRegistered(String databaseId, String pgUrl, String pgdata, String standbyUrl, Policy policy, Instant at)
            implements DatabaseEvent {
    }

    record OwnerAssigned(String databaseId, String node, Instant at) implements DatabaseEvent {
    }

    /**
     * The database's lease in the catalog passed from one node to another (issue 20): a takeover after the old owner
     * stopped renewing (reason "lease expired"), or a drain. A fact the lease table already decided: never refused.
     */
    record OwnerChanged(String databaseId, String from, String to, long epoch, String reason, Instant at) implements DatabaseEvent {
    }

    /** Where the database is reached now (after a failover, a move): the primary, the data directory, the standby (null: none). */
    record ConnectionChanged(String databaseId, String pgUrl, String pgdata, String standbyUrl, Instant at) implements DatabaseEvent {
    }

    record PolicyChanged(String databaseId, Policy policy, Instant at) implements DatabaseEvent {
    }

    record BaseBackupRequested(String databaseId, String backupId, String trigger, Instant at) implements DatabaseEvent {
    }

    record BaseBackupStarted(String databaseId, String backupId, String node, boolean fromStandby, Instant at) implements DatabaseEvent {
    }

    record BaseBackupCompleted(String databaseId, String backupId, String chain, int timeline, String startLsn, String startSegment,
                               String stopLsn, Instant startTime, Instant consistencyTime, long bytes, long storedBytes,
                               String manifestKey, String manifestSha256, int badPages, Instant at) implements DatabaseEvent {
    }

    record BaseBackupFailed(String databaseId, String backupId, String reason, Instant at) implements DatabaseEvent {
    }

    record WalArchived(String databaseId, String chain, int timeline, String firstSegment, String lastSegment, Instant firstByteTime,
                       Instant lastByteTime, long bytes, String endLsn) implements DatabaseEvent {
    }

    record WalMissing(String databaseId, String chain, int timeline, List<String> segments, Instant at) implements DatabaseEvent {
    }

    record WalConflictDetected(String databaseId, String chain, String segment, String existingSha256, String newSha256, String keptAs,
                               Instant at) implements DatabaseEvent {
    }

    /**
     * In synchronous mode, WAL the server sent has waited longer than the stall warning to become durable in the
     * repository (unreachable or slow, or the stream down): the server's commits wait meanwhile. reason: the stream's
     * last error, or null.
     */
    record SynchronousWalStalled(String databaseId, double waitedSeconds, String reason, Instant at) implements DatabaseEvent {
    }

    /** A reported synchronous stall is over: every byte received is durable again, after waitedSeconds. */
    record SynchronousWalResumed(String databaseId, double waitedSeconds, Instant at) implements DatabaseEvent {
    }

    record TimelineSwitched(String databaseId, String chain, int fromTimeline, int toTimeline, String switchLsn, Instant at)
            implements DatabaseEvent {
    }

    record ChainChanged(String databaseId, String expectedChain, String actualChain, Instant at) implements DatabaseEvent {
    }

    record DumpRequested(String databaseId, String dumpId, List<String> databases, String trigger, Instant at) implements DatabaseEvent {
    }

    record DumpStarted(String databaseId, String dumpId, boolean fromStandby, Instant at) implements DatabaseEvent {
    }

    /**
     * fromStandby: the server the dump was read from in the end (false after the standby cancelled it and the primary was
     * read instead); null in events recorded before the field existed, where DumpStarted's says it.
     */
    record DumpCompleted(String databaseId, String dumpId, List<DumpArchive> archives, String manifestKey, Instant at,
                         Boolean fromStandby) implements DatabaseEvent {
        public DumpCompleted(String databaseId, String dumpId, List<DumpArchive> archives, String manifestKey, Instant at) {
            this(databaseId, dumpId, archives, manifestKey, at, null);
        }
    }

    record DumpFailed(String databaseId, String dumpId, String reason, Instant at) implements DatabaseEvent {
    }

    /** A restore as planned: for kind "pitr" the base backup that serves the target, and the WAL chain/timeline to replay. */
    record RestoreRequested(String databaseId, String restoreId, String kind, Instant targetTime, boolean latest, String targetDir,
                            Integer port, boolean inPlace, String backupId, String manifestKey, String manifestSha256, String chain,
                            Integer timeline, String dumpId, String dumpDatabase, String targetDatabase, Instant at,
                            boolean leaveStopped, boolean delta, boolean checksum) implements DatabaseEvent {
        /**
         * leaveStopped, delta, checksum (absent from events recorded before they existed: false): in place, the server is
         * left stopped; in place without a copy; with checksums.
         */
        public RestoreRequested(String databaseId, String restoreId, String kind, Instant targetTime, boolean latest, String targetDir,
                                Integer port, boolean inPlace, String backupId, String manifestKey, String manifestSha256, String chain,
                                Integer timeline, String dumpId, String dumpDatabase, String targetDatabase, Instant at,
                                boolean leaveStopped) {
            this(databaseId, restoreId, kind, targetTime, latest, targetDir, port, inPlace, backupId, manifestKey, manifestSha256, chain,
                    timeline, dumpId, dumpDatabase, targetDatabase, at, leaveStopped, false, false);
        }

        /** Left running, the old directory moved aside. */
        public RestoreRequested(String databaseId, String restoreId, String kind, Instant targetTime, boolean latest, String targetDir,
                                Integer port, boolean inPlace, String backupId, String manifestKey, String manifestSha256, String chain,
                                Integer timeline, String dumpId, String dumpDatabase, String targetDatabase, Instant at) {
            this(databaseId, restoreId, kind, targetTime, latest, targetDir, port, inPlace, backupId, manifestKey, manifestSha256, chain,
                    timeline, dumpId, dumpDatabase, targetDatabase, at, false, false, false);
        }
    }

    record RestoreStarted(String databaseId, String restoreId, Instant at) implements DatabaseEvent {
    }

    record RestoreCompleted(String databaseId, String restoreId, Instant reachedTime, String reachedLsn, Integer timeline,
                            String dataDirectory, Integer port, String summary, Instant at) implements DatabaseEvent {
    }

    record RestoreFailed(String databaseId, String restoreId, String reason, Instant at) implements DatabaseEvent {
    }

    record BackupsExpired(String databaseId, List<String> baseBackupIds, List<String> dumpIds, List<WalCut> walCuts, Instant at)
            implements DatabaseEvent {
    }

    record DatabaseDeregistered(String databaseId, boolean purge, Instant at) implements DatabaseEvent {
    }
}
