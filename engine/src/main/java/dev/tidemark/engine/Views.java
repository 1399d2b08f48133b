package dev.tidemark.engine;

import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogRows;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.RecoveryWindow;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.DumpView;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.operations.PolicyView;
import dev.tidemark.engine.operations.Progress;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.ServerStats;
import dev.tidemark.engine.operations.StreamingView;
import dev.tidemark.engine.operations.WindowView;
import dev.tidemark.engine.postgres.ServerProbe;
import dev.tidemark.engine.wal.WalStreamStatus;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** Answers questions from the catalog's read model and the live state of streams and jobs. */
final class Views {
    private static final Logger LOG = LoggerFactory.getLogger(Views.class);
    private static final Duration ROWS_WAIT = Duration.ofSeconds(3);
    private volatile boolean lagging;
    private final Catalog catalog;
    private final Streams streams;
    private final Work work;
    private final Clock clock;
    private final String nodeId;

    Views(Catalog catalog, Streams streams, Work work, Clock clock, String nodeId) {
        this.nodeId = nodeId;
        this.catalog = catalog;
        this.streams = streams;
        this.work = work;
        this.clock = clock;
    }

    DatabaseHistory history(String databaseId) {
        return catalog.view().database(databaseId)
                .orElseThrow(() -> new NotFoundException("database '" + (databaseId.length() > 80 ? databaseId.substring(0, 80) + "..." : databaseId)
                        + "' is not registered; see GET /v1/databases (tidemark db list)"));
    }

    List<DatabaseView> databases() {
        return catalog.view().databases().stream().map(h -> view(h, false)).toList();
    }

    DatabaseView database(String databaseId) {
        return view(history(databaseId), true);
    }

    DatabaseView view(DatabaseHistory h, boolean withStats) {
        BackupView lastBackup = h.baseBackups().stream().filter(b -> "completed".equals(b.status()))
                .max(Comparator.comparing(DatabaseHistory.BaseBackup::completedAt)).map(b -> backup(h, b)).orElse(null);
        DumpView lastDump = h.dumps().stream().filter(d -> "completed".equals(d.status()))
                .max(Comparator.comparing(DatabaseHistory.Dump::completedAt)).map(d -> dump(h, d)).orElse(null);
        ServerStats stats = withStats && h.active() ? ServerProbe.stats(work.primary(h)) : null;
        return new DatabaseView(h.id(), h.pgUrl(), h.pgdata(), h.standbyUrl(), h.status(), h.registeredAt(), policy(h.policy()),
                window(h), streaming(h), lastBackup, lastDump, stats);
    }

    static PolicyView policy(Policy p) {
        return new PolicyView(p.window(), p.baseBackupSchedule(), p.dumpSchedule(), p.dailyDumps(), p.weeklyDumps(), p.monthlyDumps(),
                p.manualDumps());
    }

    WindowView window(String databaseId) {
        return window(history(databaseId));
    }

    RecoveryWindow recoveryWindow(DatabaseHistory h) {
        return RecoveryWindow.of(h, clock.instant(), streams.live(h.id()));
    }

    private WindowView window(DatabaseHistory h) {
        if (h.purged()) {
            return new WindowView(null, null, "deregistered with its backups and WAL purged: nothing can be restored", List.of());
        }
        RecoveryWindow w = recoveryWindow(h);
        return new WindowView(w.start(), w.end(), w.isEmpty() ? w.note() : null, w.gaps());
    }

    private StreamingView streaming(DatabaseHistory h) {
        WalStreamStatus s = streams.status(h.id()).orElse(null);
        if (s == null) {
            String state = !h.active() ? h.status() : h.ownedBy(nodeId) ? "stopped" : "streamed by " + h.owner();
            return new StreamingView(state, h.chain(), 0, null, null, 0, 0, 0, 0, null);
        }
        return new StreamingView(s.state(), s.chain(), s.timeline(), s.durableLsn(), s.durableTime(), s.lagBytes(), s.lagSeconds(),
                s.retainedBytes(), s.segmentsArchived(), s.lastError());
    }

    /**
     * The read-model rows of a database once they hold everything this node knows of it (its processor runs a few
     * milliseconds behind the commands); empty when they lag longer, and the in-memory history answers then.
     */
    private Optional<CatalogRows> rows(DatabaseHistory h) {
        CatalogRows rows = catalog.rows();
        if (rows.awaitVersion(h.id(), h.version(), ROWS_WAIT)) {
            return Optional.of(rows);
        }
        if (!lagging) {
            lagging = true;
            LOG.warn("the read model of {} lags behind the catalog (its processor may be claimed by a node that stopped); "
                    + "answering from this node's view meanwhile", h.id());
        }
        return Optional.empty();
    }

    List<BackupView> baseBackups(String databaseId) {
        DatabaseHistory h = history(databaseId);
        List<DatabaseHistory.BaseBackup> listed = rows(h).map(r -> r.baseBackups(databaseId)).orElseGet(() -> h.baseBackups().stream()
                .sorted(Comparator.comparing(DatabaseHistory.BaseBackup::requestedAt).reversed()).toList());
        return listed.stream().map(b -> backup(h, b)).toList();
    }

    BackupView baseBackup(String databaseId, String backupId) {
        return baseBackups(databaseId).stream().filter(b -> b.id().equals(backupId)).findFirst()
                .orElseThrow(() -> new NotFoundException("database " + databaseId + " has no base backup '" + backupId + "'"));
    }

    private BackupView backup(DatabaseHistory h, DatabaseHistory.BaseBackup b) {
        Progress p = b.inProgress() ? work.progress(h.id(), b.id()).map(Views::progress)
                .orElse(new Progress(b.status(), 0, 0, 0, 0, 0, 0)) : null;
        return new BackupView(b.id(), shownStatus(h, b.status()), b.trigger(), b.requestedAt(), b.startedAt(), b.completedAt(), b.consistencyTime(),
                b.startLsn(), b.stopLsn(), b.timeline(), b.bytes(), b.storedBytes(), b.badPages(), b.failure(), p);
    }

    /** A backup of a database deregistered with purge is gone whatever it was: listed as "purged". */
    private static String shownStatus(DatabaseHistory h, String status) {
        return h.purged() && ("completed".equals(status) || "expired".equals(status)) ? "purged" : status;
    }

    List<DumpView> dumps(String databaseId) {
        DatabaseHistory h = history(databaseId);
        List<DatabaseHistory.Dump> listed = rows(h).map(r -> r.dumps(databaseId)).orElseGet(() -> h.dumps().stream()
                .sorted(Comparator.comparing(DatabaseHistory.Dump::requestedAt).reversed()).toList());
        return listed.stream().map(d -> dump(h, d)).toList();
    }

    DumpView dump(String databaseId, String dumpId) {
        return dumps(databaseId).stream().filter(d -> d.id().equals(dumpId)).findFirst()
                .orElseThrow(() -> new NotFoundException("database " + databaseId + " has no dump '" + dumpId + "'"));
    }

    private DumpView dump(DatabaseHistory h, DatabaseHistory.Dump d) {
        Progress p = d.inProgress() ? work.progress(h.id(), d.id()).map(Views::progress)
                .orElse(new Progress(d.status(), 0, 0, 0, 0, 0, 0)) : null;
        List<String> databases = "completed".equals(d.status()) || "expired".equals(d.status())
                ? d.archives().stream().map(a -> a.database()).toList() : d.databases();
        boolean stored = "completed".equals(d.status()) || "expired".equals(d.status());
        return new DumpView(d.id(), shownStatus(h, d.status()), d.trigger(), d.requestedAt(), d.completedAt(), databases,
                stored ? d.bytes() : null, stored ? d.storedBytes() : null, d.failure(), p);
    }

    List<RestoreView> restores(String databaseId) {
        DatabaseHistory h = history(databaseId);
        List<DatabaseHistory.Restore> listed = rows(h).map(r -> r.restores(databaseId)).orElseGet(() -> h.restores().stream()
                .sorted(Comparator.comparing(DatabaseHistory.Restore::requestedAt).reversed()).toList());
        return listed.stream().map(r -> restore(h, r)).toList();
    }

    RestoreView restore(String databaseId, String restoreId) {
        return restores(databaseId).stream().filter(r -> r.id().equals(restoreId)).findFirst()
                .orElseThrow(() -> new NotFoundException("database " + databaseId + " has no restore '" + restoreId + "'"));
    }

    private RestoreView restore(DatabaseHistory h, DatabaseHistory.Restore r) {
        Progress p = r.inProgress() ? work.progress(h.id(), r.id()).map(Views::progress)
                .orElse(new Progress(r.status(), 0, 0, 0, 0, 0, 0)) : null;
        String target = "dump".equals(r.kind()) ? "dump " + r.dumpId() + " (" + r.dumpDatabase() + " -> " + r.targetDatabase() + ")"
                : r.latest() ? "latest" : r.targetTime().toString();
        String directory = r.inPlace() ? h.pgdata() : r.targetDir();
        Integer port = r.inPlace() ? Integer.valueOf(work.primary(h).port()) : r.port();
        return new RestoreView(r.id(), r.status(), target, r.backupId(), directory, port, r.inPlace(), r.requestedAt(), r.startedAt(),
                r.completedAt(), r.reachedTime(), r.summary(), r.failure(), p);
    }

    static Progress progress(BackupProgress p) {
        return new Progress(p.phase(), p.bytesDone(), p.bytesTotal(), p.filesDone(), p.filesTotal(), p.bytesPerSecond(), p.percent());
    }
}
