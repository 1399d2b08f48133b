package dev.tidemark.engine.registration;

import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.basebackup.BaseBackupViews;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.dump.DumpViews;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.PolicyView;
import dev.tidemark.engine.operations.StreamingView;
import dev.tidemark.engine.postgres.ServerProbe;
import dev.tidemark.engine.restore.RestoreViews;
import dev.tidemark.engine.wal.Streams;
import dev.tidemark.engine.wal.WalStreamSettings;
import dev.tidemark.engine.wal.WalStreamStatus;


import java.util.List;
import java.util.function.Predicate;

/** What a protected database looks like to the API: its registration, policy, window, stream and newest backups. */
public final class DatabaseViews {
    private final Node node;
    private final Streams streams;
    private final BaseBackupViews baseBackups;
    private final DumpViews dumps;
    private final RestoreViews restores;

    public DatabaseViews(Node node, Streams streams, BaseBackupViews baseBackups, DumpViews dumps, RestoreViews restores) {
        this.node = node;
        this.streams = streams;
        this.baseBackups = baseBackups;
        this.dumps = dumps;
        this.restores = restores;
    }

    public List<DatabaseView> list() {
        return node.catalog().view().databases().stream().map(h -> view(h, false)).toList();
    }

    /** A page ordered by id: only its views are built (a view reads the window and the stream of its database). */
    public List<DatabaseView> page(Predicate<String> visible, String after, int limit) {
        return node.catalog().view().databases().stream()
                .filter(h -> (after == null || h.id().compareTo(after) > 0) && visible.test(h.id()))
                .limit(limit).map(h -> view(h, false)).toList();
    }

    public DatabaseView get(String databaseId) {
        return view(node.history(databaseId), true);
    }

    private DatabaseView view(DatabaseHistory h, boolean withStats) {
        ServerProbe.PrimaryState primary = null;
        String configuration = null;
        if (withStats && h.active()) {
            // one connection to the primary for all it is asked; the configuration from the server base backups read
            boolean standby = h.standbyUrl() != null && !h.standbyUrl().isBlank();
            primary = ServerProbe.primary(node.primary(h), !standby,
                    h.policy().synchronous() ? WalStreamSettings.synchronousName(h.id()) : null);
            configuration = standby ? ServerProbe.configuration(node.credentials().server(h.id(), h.standbyUrl())) : primary.configuration();
        }
        return new DatabaseView(h.id(), h.pgUrl(), h.pgdata(), h.standbyUrl(), h.status(), h.registeredAt(), policy(h.policy()),
                restores.window(h), streaming(h, primary), baseBackups.lastCompleted(h).orElse(null), dumps.lastCompleted(h).orElse(null),
                primary == null ? null : primary.stats(), configuration);
    }

    private static PolicyView policy(Policy p) {
        return new PolicyView(p.window(), p.baseBackupSchedule(), p.dumpSchedule(), p.dailyDumps(), p.weeklyDumps(), p.monthlyDumps(),
                p.manualDumps(), p.synchronous());
    }

    /** primary: what the primary answered for a detailed view, null for a list's. */
    private StreamingView streaming(DatabaseHistory h, ServerProbe.PrimaryState primary) {
        boolean synchronous = h.policy().synchronous();
        String applicationName = synchronous ? WalStreamSettings.synchronousName(h.id()) : null;
        String synchronousState = synchronous && primary != null ? primary.synchronousState() : null;
        WalStreamStatus s = streams.status(h.id()).orElse(null);
        if (s == null) {
            boolean elsewhere = h.active() && !h.ownedBy(node.id());
            String state = !h.active() ? h.status() : elsewhere ? "streamed by " + h.owner() : "stopped";
            // another node streams it: where it had come as that node last shared it; what only it measures is not known here
            Commands.LiveWal live = elsewhere ? streams.live(h.id()) : null;
            return live == null
                    ? new StreamingView(state, h.chain(), null, null, null, null, null, null, null, null, synchronous, applicationName,
                    synchronousState, null)
                    : new StreamingView(state, live.chain(), live.timeline(), live.lsn(), live.time(), null, null, null, null, null,
                    synchronous, applicationName, synchronousState, null);
        }
        return new StreamingView(s.state(), s.chain(), s.timeline(), s.durableLsn(), s.durableTime(), s.lagBytes(), s.lagSeconds(),
                s.retainedBytes(), s.segmentsArchived(), s.lastError(), synchronous, applicationName, synchronousState, s.stalledSeconds());
    }
}
