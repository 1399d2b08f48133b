package dev.tidemark.engine.catalog;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DatabaseEvent.*;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.catalog.api.WalCut;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.OptionalLong;
import java.util.Optional;

/**
 * Everything the catalog knows about one protected database, folded from its events by {@link #apply}: the state the
 * aggregate decides on and the read model the API shows. A plain value: no I/O, copied for readers.
 */
@JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
        isGetterVisibility = JsonAutoDetect.Visibility.NONE)
public final class DatabaseHistory {
    public static final long SEGMENT_SIZE = 16L << 20;

    public record BaseBackup(String id, JobStatus status, String trigger, Instant requestedAt, Instant startedAt, Instant completedAt,
                             String node, boolean fromStandby, String chain, Integer timeline, String startLsn, String startSegment,
                             String stopLsn, Instant startTime, Instant consistencyTime, Long bytes, Long storedBytes,
                             String manifestKey, String manifestSha256, Integer badPages, String failure) {
        BaseBackup with(JobStatus newStatus, Instant completed, String newFailure) {
            return new BaseBackup(id, newStatus, trigger, requestedAt, startedAt, completed, node, fromStandby, chain, timeline, startLsn,
                    startSegment, stopLsn, startTime, consistencyTime, bytes, storedBytes, manifestKey, manifestSha256, badPages, newFailure);
        }

        public boolean inProgress() {
            return status.inProgress();
        }

        public long startSegmentNumber() {
            return WalSegment.parse(startSegment, SEGMENT_SIZE).number();
        }
    }

    public record Dump(String id, JobStatus status, String trigger, List<String> databases, Instant requestedAt, Instant startedAt,
                       Instant completedAt, boolean fromStandby, List<DumpArchive> archives, String manifestKey, String failure) {
        public boolean inProgress() {
            return status.inProgress();
        }

        public long bytes() {
            return archives == null ? 0 : archives.stream().mapToLong(DumpArchive::bytes).sum();
        }

        public long storedBytes() {
            return archives == null ? 0 : archives.stream().mapToLong(DumpArchive::storedBytes).sum();
        }
    }

    public record Restore(String id, JobStatus status, String kind, Instant targetTime, boolean latest, String targetDir, Integer port,
                          boolean inPlace, String backupId, String manifestKey, String manifestSha256, String chain, Integer timeline,
                          String dumpId, String dumpDatabase, String targetDatabase, Instant requestedAt, Instant startedAt,
                          Instant completedAt, Instant reachedTime, String reachedLsn, String dataDirectory, String summary,
                          String failure, boolean leaveStopped, boolean delta, boolean checksum) {
        public boolean inProgress() {
            return status.inProgress();
        }
    }

    /**
     * The WAL of one timeline of a chain durable in the repository: from the start of segment first up to endLsn (inside
     * segment last, which is partial while endLsn is not its end), covering server times up to lastTime.
     */
    public record WalRange(String chain, int timeline, long first, long last, Instant firstTime, Instant lastTime, String endLsn,
                           long bytes) {
        public String firstName() {
            return new WalSegment(timeline, first, SEGMENT_SIZE).name();
        }

        public String lastName() {
            return new WalSegment(timeline, last, SEGMENT_SIZE).name();
        }
    }

    public record Conflict(String chain, String segment, String existingSha256, String newSha256, String keptAs, Instant at) {
    }

    private String id;
    private String pgUrl;
    private String pgdata;
    private String standbyUrl;
    private Policy policy;
    private String status;
    private Instant registeredAt;
    private String chain;
    private String changedToChain;
    private String owner;
    private long version = -1;
    private LinkedHashMap<String, BaseBackup> baseBackups = new LinkedHashMap<>();
    private LinkedHashMap<String, Dump> dumps = new LinkedHashMap<>();
    private LinkedHashMap<String, Restore> restores = new LinkedHashMap<>();
    private ArrayList<WalRange> wal = new ArrayList<>();
    private ArrayList<Conflict> conflicts = new ArrayList<>();
    private boolean purged;
    /** "chain/timeline" to the LSN where that timeline left its parent. */
    private LinkedHashMap<String, String> timelineStarts = new LinkedHashMap<>();

    public DatabaseHistory() {
    }

    /** Folds one event in. Pure: the same events give the same history. */
    public void apply(DatabaseEvent event, long sequence) {
        version = sequence;
        switch (event) {
            case DatabaseRegistered e -> {
                id = e.databaseId();
                pgUrl = e.pgUrl();
                pgdata = e.pgdata();
                standbyUrl = e.standbyUrl();
                policy = e.policy();
                status = "active";
                registeredAt = e.at();
            }
            case OwnerAssigned e -> owner = e.node();
            case OwnerChanged e -> owner = e.to();
            case PolicyChanged e -> policy = e.policy();
            case ConnectionChanged e -> {
                pgUrl = e.pgUrl();
                pgdata = e.pgdata();
                standbyUrl = e.standbyUrl();
            }
            case BaseBackupRequested e -> baseBackups.put(e.backupId(), new BaseBackup(e.backupId(), JobStatus.REQUESTED, e.trigger(), e.at(),
                    null, null, null, false, null, null, null, null, null, null, null, null, null, null, null, null, null));
            case BaseBackupStarted e -> {
                BaseBackup b = baseBackups.get(e.backupId());
                baseBackups.put(b.id(), new BaseBackup(b.id(), JobStatus.RUNNING, b.trigger(), b.requestedAt(), e.at(), null, e.node(),
                        e.fromStandby(), null, null, null, null, null, null, null, null, null, null, null, null, null));
            }
            case BaseBackupCompleted e -> {
                BaseBackup b = baseBackups.get(e.backupId());
                baseBackups.put(b.id(), new BaseBackup(b.id(), JobStatus.COMPLETED, b.trigger(), b.requestedAt(), b.startedAt(), e.at(), b.node(),
                        b.fromStandby(), e.chain(), e.timeline(), e.startLsn(), e.startSegment(), e.stopLsn(), e.startTime(),
                        e.consistencyTime(), e.bytes(), e.storedBytes(), e.manifestKey(), e.manifestSha256(), e.badPages(), null));
                if (chain == null) {
                    chain = e.chain();
                }
            }
            case BaseBackupFailed e -> baseBackups.computeIfPresent(e.backupId(), (k, b) -> b.with(JobStatus.FAILED, e.at(), e.reason()));
            case WalArchived e -> addWal(e);
            case WalMissing e -> {
                for (String segment : e.segments()) {
                    cut(e.chain(), e.timeline(), WalSegment.parse(segment, SEGMENT_SIZE).number());
                }
            }
            case WalConflictDetected e -> conflicts.add(new Conflict(e.chain(), e.segment(), e.existingSha256(), e.newSha256(),
                    e.keptAs(), e.at()));
            case SynchronousWalStalled e -> {
                // the audit log's: the stream's status carries the stall while it lasts
            }
            case SynchronousWalResumed e -> {
            }
            case TimelineSwitched e -> timelineStarts.putIfAbsent(e.chain() + "/" + e.toTimeline(), e.switchLsn());
            case ChainChanged e -> {
                changedToChain = e.actualChain();
                status = "chain-changed";
            }
            case DumpRequested e -> dumps.put(e.dumpId(), new Dump(e.dumpId(), JobStatus.REQUESTED, e.trigger(), List.copyOf(e.databases()),
                    e.at(), null, null, false, List.of(), null, null));
            case DumpStarted e -> dumps.computeIfPresent(e.dumpId(), (k, d) -> new Dump(d.id(), JobStatus.RUNNING, d.trigger(), d.databases(),
                    d.requestedAt(), e.at(), null, e.fromStandby(), List.of(), null, null));
            case DumpCompleted e -> dumps.computeIfPresent(e.dumpId(), (k, d) -> new Dump(d.id(), JobStatus.COMPLETED, d.trigger(),
                    d.databases(), d.requestedAt(), d.startedAt(), e.at(), e.fromStandby() != null ? e.fromStandby() : d.fromStandby(),
                    List.copyOf(e.archives()), e.manifestKey(), null));
            case DumpFailed e -> dumps.computeIfPresent(e.dumpId(), (k, d) -> new Dump(d.id(), JobStatus.FAILED, d.trigger(), d.databases(),
                    d.requestedAt(), d.startedAt(), e.at(), d.fromStandby(), List.of(), null, e.reason()));
            case RestoreRequested e -> restores.put(e.restoreId(), new Restore(e.restoreId(), JobStatus.REQUESTED, e.kind(), e.targetTime(),
                    e.latest(), e.targetDir(), e.port(), e.inPlace(), e.backupId(), e.manifestKey(), e.manifestSha256(), e.chain(),
                    e.timeline(), e.dumpId(), e.dumpDatabase(), e.targetDatabase(), e.at(), null, null, null, null, null, null, null,
                    e.leaveStopped(), e.delta(), e.checksum()));
            case RestoreStarted e -> restores.computeIfPresent(e.restoreId(), (k, r) -> restore(r, JobStatus.RUNNING, e.at(), null, null, null,
                    null, null, null));
            case RestoreCompleted e -> restores.computeIfPresent(e.restoreId(), (k, r) -> restore(r, JobStatus.COMPLETED, r.startedAt(), e.at(),
                    e.reachedTime(), e.reachedLsn(), e.dataDirectory(), e.summary(), null));
            case RestoreFailed e -> restores.computeIfPresent(e.restoreId(), (k, r) -> restore(r, JobStatus.FAILED, r.startedAt(), e.at(),
                    null, null, null, null, e.reason()));
            case BackupsExpired e -> expire(e);
            case DatabaseDeregistered e -> {
                status = "deregistered";
                purged = e.purge();
            }
        }
    }

    private static Restore restore(Restore r, JobStatus status, Instant started, Instant completed, Instant reached, String lsn,
                                   String dataDirectory, String summary, String failure) {
        return new Restore(r.id(), status, r.kind(), r.targetTime(), r.latest(), r.targetDir(), r.port(), r.inPlace(), r.backupId(),
                r.manifestKey(), r.manifestSha256(), r.chain(), r.timeline(), r.dumpId(), r.dumpDatabase(), r.targetDatabase(),
                r.requestedAt(), started, completed, reached, lsn, dataDirectory, summary, failure, r.leaveStopped(), r.delta(), r.checksum());
    }

    /** Extends the range this one continues (its last segment may have been partial then), or starts a new range. */
    private void addWal(WalArchived e) {
        long first = WalSegment.parse(e.firstSegment(), SEGMENT_SIZE).number();
        long last = WalSegment.parse(e.lastSegment(), SEGMENT_SIZE).number();
        if (chain == null || !chain.equals(e.chain()) && "chain-changed".equals(status)) {
            chain = e.chain();
        }
        for (int i = wal.size() - 1; i >= 0; i--) {
            WalRange r = wal.get(i);
            if (r.chain().equals(e.chain()) && r.timeline() == e.timeline() && first <= r.last() + 1 && last >= r.last()) {
                wal.set(i, new WalRange(r.chain(), r.timeline(), Math.min(r.first(), first), last, r.firstTime(),
                        later(r.lastTime(), e.lastByteTime()), e.endLsn(), r.bytes() + e.bytes()));
                return;
            }
        }
        wal.add(new WalRange(e.chain(), e.timeline(), first, last, e.firstByteTime(), e.lastByteTime(), e.endLsn(), e.bytes()));
        wal.sort(Comparator.comparing(WalRange::chain).thenComparingLong(WalRange::first).thenComparingInt(WalRange::timeline));
    }

    /**
     * Splits the range holding segment n around it. The part before ends at the newest time known to lie below segment
     * n: the consistency time of a completed backup that stopped before it, else the range's first time (the window
     * must not claim more than a restore can reach). The part after keeps its times and end.
     */
    private void cut(String walChain, int timeline, long n) {
        for (int i = 0; i < wal.size(); i++) {
            WalRange r = wal.get(i);
            if (r.chain().equals(walChain) && r.timeline() == timeline && r.first() <= n && n <= r.last()) {
                wal.remove(i);
                if (n > r.first()) {
                    Lsn gap = new WalSegment(timeline, n, SEGMENT_SIZE).start();
                    Instant known = baseBackups.values().stream()
                            .filter(b -> b.status() == JobStatus.COMPLETED && walChain.equals(b.chain()) && b.stopLsn() != null
                                    && Lsn.parse(b.stopLsn()).compareTo(gap) < 0)
                            .map(BaseBackup::consistencyTime).max(Comparator.naturalOrder()).orElse(r.firstTime());
                    wal.add(new WalRange(r.chain(), r.timeline(), r.first(), n - 1, r.firstTime(), later(r.firstTime(), known),
                            gap.toString(), 0));
                }
                if (n < r.last()) {
                    wal.add(new WalRange(r.chain(), r.timeline(), n + 1, r.last(), r.firstTime(), r.lastTime(), r.endLsn(), r.bytes()));
                }
                wal.sort(Comparator.comparing(WalRange::chain).thenComparingLong(WalRange::first).thenComparingInt(WalRange::timeline));
                return;
            }
        }
    }

    private static Instant later(Instant a, Instant b) {
        if (a == null) {
            return b;
        }
        return b == null || a.isAfter(b) ? a : b;
    }

    private void expire(BackupsExpired e) {
        for (String backupId : e.baseBackupIds()) {
            baseBackups.computeIfPresent(backupId, (k, b) -> b.with(JobStatus.EXPIRED, b.completedAt(), null));
        }
        for (String dumpId : e.dumpIds()) {
            dumps.computeIfPresent(dumpId, (k, d) -> new Dump(d.id(), JobStatus.EXPIRED, d.trigger(), d.databases(), d.requestedAt(),
                    d.startedAt(), d.completedAt(), d.fromStandby(), d.archives(), d.manifestKey(), null));
        }
        for (WalCut cut : e.walCuts()) {
            List<WalRange> kept = new ArrayList<>();
            for (WalRange r : wal) {
                if (!r.chain().equals(cut.chain())) {
                    kept.add(r);
                } else if (cut.beforeSegment() != null && r.last() >= cut.beforeSegment()) {
                    kept.add(r.first() >= cut.beforeSegment() ? r : new WalRange(r.chain(), r.timeline(), cut.beforeSegment(), r.last(),
                            r.firstTime(), r.lastTime(), r.endLsn(), r.bytes()));
                }
            }
            wal = new ArrayList<>(kept);
        }
    }

    /** True when the WAL of chain/timeline from firstSegment up to endLsn is recorded already. */
    public boolean walRecorded(String walChain, int timeline, String firstSegment, String lastSegment, String endLsn) {
        long first = WalSegment.parse(firstSegment, SEGMENT_SIZE).number();
        long last = WalSegment.parse(lastSegment, SEGMENT_SIZE).number();
        Lsn end = Lsn.parse(endLsn);
        return wal.stream().anyMatch(r -> r.chain().equals(walChain) && r.timeline() == timeline && r.first() <= first && r.last() >= last
                && (r.last() > last || Lsn.parse(r.endLsn()).compareTo(end) >= 0));
    }

    public DatabaseHistory copy() {
        DatabaseHistory c = new DatabaseHistory();
        c.id = id;
        c.pgUrl = pgUrl;
        c.pgdata = pgdata;
        c.standbyUrl = standbyUrl;
        c.policy = policy;
        c.status = status;
        c.registeredAt = registeredAt;
        c.chain = chain;
        c.changedToChain = changedToChain;
        c.owner = owner;
        c.version = version;
        c.baseBackups = new LinkedHashMap<>(baseBackups);
        c.dumps = new LinkedHashMap<>(dumps);
        c.restores = new LinkedHashMap<>(restores);
        c.wal = new ArrayList<>(wal);
        c.conflicts = new ArrayList<>(conflicts);
        c.purged = purged;
        c.timelineStarts = timelineStarts == null ? new LinkedHashMap<>() : new LinkedHashMap<>(timelineStarts);
        return c;
    }

    public String id() {
        return id;
    }

    public String pgUrl() {
        return pgUrl;
    }

    public String pgdata() {
        return pgdata;
    }

    public String standbyUrl() {
        return standbyUrl;
    }

    public Policy policy() {
        return policy;
    }

    /** True once the database was deregistered with its objects purged: nothing of it can be restored any more. */
    public boolean purged() {
        return purged;
    }

    /** active, deregistered or chain-changed. */
    public String status() {
        return status;
    }

    public boolean active() {
        return "active".equals(status);
    }

    public boolean registered() {
        return status != null;
    }

    public Instant registeredAt() {
        return registeredAt;
    }

    /** The chain (system identifier and major version) the database is recorded on, null before its first WAL or backup. */
    public String chain() {
        return chain;
    }

    /** The engine node that streams this database and runs its work; null (any node) for a catalog of one node. */
    public String owner() {
        return owner;
    }

    public boolean ownedBy(String node) {
        return owner == null || owner.equals(node);
    }

    public String changedToChain() {
        return changedToChain;
    }

    /** Sequence number of the last event folded in. */
    public long version() {
        return version;
    }

    public List<BaseBackup> baseBackups() {
        return List.copyOf(baseBackups.values());
    }

    public Optional<BaseBackup> baseBackup(String backupId) {
        return Optional.ofNullable(baseBackups.get(backupId));
    }

    public Optional<BaseBackup> runningBaseBackup() {
        return baseBackups.values().stream().filter(BaseBackup::inProgress).findFirst();
    }

    public List<Dump> dumps() {
        return List.copyOf(dumps.values());
    }

    public Optional<Dump> dump(String dumpId) {
        return Optional.ofNullable(dumps.get(dumpId));
    }

    public Optional<Dump> runningDump() {
        return dumps.values().stream().filter(Dump::inProgress).findFirst();
    }

    public List<Restore> restores() {
        return List.copyOf(restores.values());
    }

    public Optional<Restore> restore(String restoreId) {
        return Optional.ofNullable(restores.get(restoreId));
    }

    public Optional<Restore> runningRestore() {
        return restores.values().stream().filter(Restore::inProgress).findFirst();
    }

    /** Why an action must wait for the work under way, or null when none is. */
    public String workUnderWayRefusal(String action) {
        List<String> busy = workUnderWay();
        return busy.isEmpty() ? null : "database " + id + " has work under way (" + String.join(", ", busy) + "): wait until it has"
                + " finished, then " + action + " (nothing was changed)";
    }

    /** The base backups, dumps and restores requested or running, by name ("base backup base-20261124-..."). */
    public List<String> workUnderWay() {
        List<String> busy = new ArrayList<>();
        baseBackups.values().stream().filter(BaseBackup::inProgress).forEach(b -> busy.add("base backup " + b.id()));
        dumps.values().stream().filter(Dump::inProgress).forEach(d -> busy.add("dump " + d.id()));
        restores.values().stream().filter(Restore::inProgress).forEach(r -> busy.add("restore " + r.id()));
        return busy;
    }

    /**
     * The segment where a timeline's own WAL begins (the one holding its switch point: recovery reads the new timeline's
     * copy of it, and the parent's segments before it), when the switch was recorded.
     */
    public OptionalLong timelineBeginSegment(String walChain, int timeline) {
        return timelineStart(walChain, timeline).map(l -> OptionalLong.of(l.value() / SEGMENT_SIZE)).orElse(OptionalLong.empty());
    }

    /** Where a timeline left its parent (its switch point), when the switch was recorded. */
    public Optional<Lsn> timelineStart(String walChain, int timeline) {
        String lsn = timelineStarts == null ? null : timelineStarts.get(walChain + "/" + timeline);
        return Optional.ofNullable(lsn).map(Lsn::parse);
    }

    public List<WalRange> wal() {
        return List.copyOf(wal);
    }

    public List<Conflict> conflicts() {
        return List.copyOf(conflicts);
    }
}
