package dev.tidemark.engine.operations;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * What operators and scheduled jobs can ask of the engine: the one boundary the REST API and the CLI use.
 * Methods that change something take the actor (token name, "scheduler") recorded with the event.
 * Errors: {@link NotFoundException}, {@link ConflictException}, {@link InvalidRequestException},
 * {@link ForbiddenException}; each message
 * says what was wrong and what to do. Nothing changes when one is thrown.
 */
public interface Operations {

    DatabaseView register(RegisterDatabase request, String actor);

    List<DatabaseView> databases();

    /**
     * A page of the databases, ordered by id: at most limit of those visible, with an id after after (null: from the
     * first). The next page starts after the last id of a full one.
     */
    List<DatabaseView> databases(Predicate<String> visible, String after, int limit);

    DatabaseView database(String databaseId);

    DatabaseView changePolicy(String databaseId, PolicyChange change, String actor);

    /** Points the database at other servers or another data directory (a failover, a move); the WAL stream restarts. */
    default DatabaseView changeConnection(String databaseId, ConnectionChange change, String actor) {
        return changeConnection(databaseId, change, actor, true);
    }

    /**
     * As {@link #changeConnection(String, ConnectionChange, String)}; with newServers false a primary or standby at
     * another host or port is refused ({@link ForbiddenException}) before anything is contacted: the database's stored
     * password is only sent to servers someone trusted with it chose (an admin, or the configuration).
     */
    DatabaseView changeConnection(String databaseId, ConnectionChange change, String actor, boolean newServers);

    /** Stops protecting the database; its backups stay until retention removes them, unless purge. */
    void deregister(String databaseId, boolean purge, String actor);

    /** Asks for a base backup; returns at once with the requested backup (status "requested"). */
    BackupView requestBaseBackup(String databaseId, String actor);

    List<BackupView> baseBackups(String databaseId);

    BackupView baseBackup(String databaseId, String backupId);

    /**
     * The base backup once its status changes: while it is requested or running, the answer waits up to wait for the
     * change and comes as soon as it is recorded; an ended backup, or a zero wait, answers at once (what a client waiting
     * for a job asks instead of polling).
     */
    BackupView baseBackup(String databaseId, String backupId, Duration wait);

    /**
     * A completed base backup as a tar archive that starts as a data directory of its own (consistent at the backup's
     * consistency point); refused when the WAL it needs is gone from the repository.
     */
    BaseBackupDownload downloadBaseBackup(String databaseId, String backupId) throws IOException;

    /** Asks for a logical dump of the named databases of the cluster (all when empty). */
    DumpView requestDump(String databaseId, List<String> databases, String actor);

    List<DumpView> dumps(String databaseId);

    DumpView dump(String databaseId, String dumpId);

    /** The dump once its status changes, waiting up to wait, as {@link #baseBackup(String, String, Duration)}. */
    DumpView dump(String databaseId, String dumpId, Duration wait);

    /** Opens a completed dump's pg_dump -Fc archive (of one database of the dump; the first when empty). */
    DumpDownload downloadDump(String databaseId, String dumpId, Optional<String> database) throws IOException;

    /** Asks for a restore; validated against the recovery window before anything is recorded. */
    RestoreView requestRestore(String databaseId, RestoreRequest request, String actor);

    /**
     * Restores one database of a completed dump into targetDatabase (which must exist) with pg_restore --clean; a target
     * that holds tables, views or sequences is refused unless replace.
     */
    RestoreView restoreDump(String databaseId, String dumpId, String database, String targetDatabase, boolean replace, String actor);

    List<RestoreView> restores(String databaseId);

    RestoreView restore(String databaseId, String restoreId);

    /** The restore once its status changes, waiting up to wait, as {@link #baseBackup(String, String, Duration)}. */
    RestoreView restore(String databaseId, String restoreId, Duration wait);

    /**
     * Cancels a point-in-time restore that is requested or running: it stops at its next step and fails as "cancelled",
     * its copy removed (in place: the old data directory put back).
     */
    RestoreView cancelRestore(String databaseId, String restoreId, String actor);

    WindowView recoveryWindow(String databaseId);

    /**
     * Reads every object the database's window needs, whole (manifests and every file's checksum, the WAL from the oldest
     * kept base backup's start to the window's end, dumps) and says what is missing or damaged and what that costs the
     * window. Changes nothing; takes as long as reading them takes.
     */
    VerifyReport verify(String databaseId) throws IOException;

    /** How far the verification of a database running on this node has come; NotFoundException when none runs. */
    Progress verifyProgress(String databaseId);

    /** The audit log: the database's events in order, from a sequence number on. */
    EventPage events(String databaseId, long fromSequence, int limit);

    /**
     * Rebuilds the read model (the rows the API lists) from the events: resets its processor's token and replays
     * everything. Returns once the rows are current, or after a minute with current=false (they keep catching up).
     */
    ReadModelView rebuildReadModel(String actor);

    /**
     * Why this engine writes nothing more, once the engines of another catalog took its repository over (its catalog is no
     * longer the repository's: docs/recovery-runbook.md, "The engine's host is lost"); empty while it writes.
     */
    Optional<String> takenOver();

    /** The engine nodes sharing the catalog: heartbeat age, live, draining, databases held (issue 20). */
    List<NodeView> nodes();

    /**
     * Drains node (drain=true): it hands every database over to the live nodes on its next lease round (within a few
     * seconds) and takes none until undrained (drain=false). {@link NotFoundException} for a node with no heartbeat row.
     */
    NodeView drainNode(String node, boolean drain, String actor);
}
