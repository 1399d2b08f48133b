package dev.tidemark.engine.catalog.api;

import org.axonframework.modelling.command.TargetAggregateIdentifier;

import java.time.Instant;
import java.util.List;

/**
 * What can be asked of a protected database's aggregate. Each carries the moment it was asked ({@code at}) from the
 * engine's clock, so the aggregate stays free of I/O and its decisions are repeatable. No command carries a secret.
 */
public final class Commands {
    private Commands() {
    }

    public record RegisterDatabase(@TargetAggregateIdentifier String databaseId, String pgUrl, String pgdata, String standbyUrl,
                                   Policy policy, Instant at) {
    }

    /** Makes node the one that streams the database's WAL and runs its work (several engine nodes share a catalog). */
    public record AssignOwner(@TargetAggregateIdentifier String databaseId, String node, Instant at) {
    }

    /** Records a lease takeover decided in the catalog's lease table (issue 20): from the old owner (null: none) to node. */
    public record RecordOwnerChange(@TargetAggregateIdentifier String databaseId, String from, String to, long epoch, String reason,
                                    Instant at) {
    }

    public record ChangePolicy(@TargetAggregateIdentifier String databaseId, Policy policy, Instant at) {
    }

    /** trigger: manual, scheduled or after-restore. */
    public record RequestBaseBackup(@TargetAggregateIdentifier String databaseId, String backupId, String trigger, Instant at) {
    }

    public record StartBaseBackup(@TargetAggregateIdentifier String databaseId, String backupId, String node, boolean fromStandby,
                                  Instant at) {
    }

    public record CompleteBaseBackup(@TargetAggregateIdentifier String databaseId, String backupId, String chain, int timeline,
                                     String startLsn, String startSegment, String stopLsn, Instant startTime,
                                     Instant consistencyTime, long bytes, long storedBytes, String manifestKey,
                                     String manifestSha256, int badPages, Instant at) {
    }

    public record FailBaseBackup(@TargetAggregateIdentifier String databaseId, String backupId, String reason, Instant at) {
    }

    /**
     * WAL of one timeline durable in the repository from the start of firstSegment up to endLsn (inside lastSegment, which
     * is still partial unless endLsn is its end), covering server times firstByteTime..lastByteTime.
     */
    public record RecordWal(@TargetAggregateIdentifier String databaseId, String chain, int timeline, String firstSegment,
                            String lastSegment, Instant firstByteTime, Instant lastByteTime, long bytes, String endLsn) {
    }

    /** Segments the catalog records but the repository lacks (found by the continuity check): the window ends before them. */
    public record RecordWalMissing(@TargetAggregateIdentifier String databaseId, String chain, int timeline, List<String> segments,
                                   Instant at) {
    }

    public record RecordWalConflict(@TargetAggregateIdentifier String databaseId, String chain, String segment,
                                    String existingSha256, String newSha256, String keptAs, Instant at) {
    }

    public record RecordSynchronousStall(@TargetAggregateIdentifier String databaseId, double waitedSeconds, String reason,
                                         Instant at) {
    }

    public record RecordSynchronousResume(@TargetAggregateIdentifier String databaseId, double waitedSeconds, Instant at) {
    }

    public record RecordTimelineSwitch(@TargetAggregateIdentifier String databaseId, String chain, int fromTimeline, int toTimeline,
                                       String switchLsn, Instant at) {
    }

    public record RecordChainChange(@TargetAggregateIdentifier String databaseId, String expectedChain, String actualChain,
                                    Instant at) {
    }

    /** databases: the databases of the cluster to dump (empty: all). trigger: manual or scheduled. */
    public record RequestDump(@TargetAggregateIdentifier String databaseId, String dumpId, List<String> databases, String trigger,
                              Instant at) {
    }

    public record StartDump(@TargetAggregateIdentifier String databaseId, String dumpId, boolean fromStandby, Instant at) {
    }

    /** fromStandby: the server the dump was read from in the end (the primary after a standby's cancellation). */
    public record CompleteDump(@TargetAggregateIdentifier String databaseId, String dumpId, List<DumpArchive> archives,
                               String manifestKey, Instant at, boolean fromStandby) {
    }

    public record FailDump(@TargetAggregateIdentifier String databaseId, String dumpId, String reason, Instant at) {
    }

    /**
     * A restore. kind "pitr": to targetTime, or to the end of the archived WAL when latest; kind "dump": from dumpId's
     * archive of dumpDatabase into targetDatabase. live: what the WAL stream has made durable beyond the recorded
     * segments (the partial segment), or null.
     */
    public record RequestRestore(@TargetAggregateIdentifier String databaseId, String restoreId, String kind, Instant targetTime,
                                 boolean latest, String targetDir, Integer port, boolean inPlace, String dumpId,
                                 String dumpDatabase, String targetDatabase, LiveWal live, Instant at, boolean leaveStopped,
                                 boolean delta, boolean checksum) {
        /** In place, the old directory moved aside (delta: restored where it is, without a copy; checksum: with delta, every file compared). */
        public RequestRestore(String databaseId, String restoreId, String kind, Instant targetTime, boolean latest, String targetDir,
                              Integer port, boolean inPlace, String dumpId, String dumpDatabase, String targetDatabase, LiveWal live,
                              Instant at, boolean leaveStopped) {
            this(databaseId, restoreId, kind, targetTime, latest, targetDir, port, inPlace, dumpId, dumpDatabase, targetDatabase, live,
                    at, leaveStopped, false, false);
        }

        /** A restore that leaves the server running once recovery ends (leaveStopped: in place, stopped for the service manager). */
        public RequestRestore(String databaseId, String restoreId, String kind, Instant targetTime, boolean latest, String targetDir,
                              Integer port, boolean inPlace, String dumpId, String dumpDatabase, String targetDatabase, LiveWal live,
                              Instant at) {
            this(databaseId, restoreId, kind, targetTime, latest, targetDir, port, inPlace, dumpId, dumpDatabase, targetDatabase, live,
                    at, false, false, false);
        }
    }

    public record StartRestore(@TargetAggregateIdentifier String databaseId, String restoreId, Instant at) {
    }

    public record CompleteRestore(@TargetAggregateIdentifier String databaseId, String restoreId, Instant reachedTime,
                                  String reachedLsn, Integer timeline, String dataDirectory, Integer port, String summary,
                                  Instant at) {
    }

    public record FailRestore(@TargetAggregateIdentifier String databaseId, String restoreId, String reason, Instant at) {
    }

    /** Removes from the catalog what retention expired (the engine deletes the objects first). */
    public record ExpireBackups(@TargetAggregateIdentifier String databaseId, List<String> baseBackupIds, List<String> dumpIds,
                                List<WalCut> walCuts, Instant at) {
    }

    public record ChangeConnection(@TargetAggregateIdentifier String databaseId, String pgUrl, String pgdata, String standbyUrl,
                                   Instant at) {
    }

    public record DeregisterDatabase(@TargetAggregateIdentifier String databaseId, boolean purge, Instant at) {
    }

    /**
     * What the live WAL stream has made durable: every byte of chain/timeline below lsn, up to server time; the stream
     * has done so without a gap from contiguousFrom on (segments it holds back for the next catalog batch included).
     */
    public record LiveWal(String chain, int timeline, String lsn, Instant time, String contiguousFrom) {
        public LiveWal(String chain, int timeline, String lsn, Instant time) {
            this(chain, timeline, lsn, time, lsn);
        }
    }
}
