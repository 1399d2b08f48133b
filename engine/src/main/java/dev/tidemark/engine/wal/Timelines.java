package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.engine.wal.WalStreamer.Fork;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * Timeline following: the server's timeline history (TIMELINE_HISTORY), which timeline's copy of a segment recovery reads
 * and where that timeline's part ends, the history files archived beside the WAL with their switch points, and what a
 * failover leaves of the durable position.
 */
final class Timelines {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class); // the stream's log lines keep their logger

    private final String databaseId;
    private final Repository repository;
    private final WalListener listener;
    private final StreamProgress progress;
    private final ServerClock clock;

    Timelines(String databaseId, Repository repository, WalListener listener, StreamProgress progress, ServerClock clock) {
        this.databaseId = databaseId;
        this.repository = repository;
        this.listener = listener;
        this.progress = progress;
        this.clock = clock;
    }

    /** The timelines of the server's current history that end before it, oldest first, each with where its successor began. */
    static List<Fork> history(Connection replication, int current) throws SQLException {
        if (current <= 1) {
            return List.of();
        }
        return forks(new ServerQueries(replication).timelineHistoryText(current));
    }

    /** Parses a history file ("1\t0/3000000\treason" lines) into the ancestors' ends, oldest first. */
    static List<Fork> forks(String history) {
        List<Fork> forks = new ArrayList<>();
        for (String line : history.split("\n")) {
            String[] parts = line.trim().split("\\s+");
            if (parts.length >= 2 && parts[0].matches("[0-9]+")) {
                forks.add(new Fork(Integer.parseInt(parts[0]), Lsn.parse(parts[1])));
            }
        }
        return forks;
    }

    /** The switch point where parent ended in a history file, or zero when the history does not pass through it. */
    static Lsn switchPointOf(String history, int parent) {
        return forks(history).stream().filter(f -> f.tli() == parent).map(Fork::begin).findFirst().orElse(Lsn.ZERO);
    }

    /**
     * The timeline whose copy of the segment at start recovery reads, and the segment number where that timeline's part
     * ends (-1 for the current timeline).
     */
    static long[] timelineOf(List<Fork> history, int current, Lsn start, long segmentSize) {
        long segment = start.value() / segmentSize;
        for (Fork f : history) {
            long end = f.begin().value() / segmentSize; // the successor's copy of the switch segment is the one to keep
            if (segment < end) {
                return new long[] {f.tli(), end};
            }
        }
        return new long[] {current, -1};
    }

    /** Archives the history files of every timeline up to the current one that the repository lacks. */
    void archiveHistory(Connection replication, List<Fork> history) throws SQLException, IOException {
        String chain = progress.chain;
        int timeline = progress.timeline;
        for (int tli = 2; tli <= timeline; tli++) {
            String key = repository.layout().timelineHistory(databaseId, chain, tli);
            if (repository.store().stat(key).isPresent()) {
                // archived before: its switch (from the server's current history) is told again, in case the first
                // telling was lost to a crash or a catalog error between the upload and the record; the catalog takes it once
                for (int i = 0; i < history.size(); i++) {
                    int child = i + 1 < history.size() ? history.get(i + 1).tli() : timeline;
                    if (child == tli) {
                        listener.timelineSwitched(chain, history.get(i).tli(), tli, history.get(i).begin(), key);
                    }
                }
                continue;
            }
            byte[] content = new ServerQueries(replication).timelineHistory(tli);
            repository.putEncoded(key, new ByteArrayInputStream(content));
            Lsn switchPoint = switchPointOf(new String(content, StandardCharsets.UTF_8), tli - 1);
            log.info("archived history of timeline {} for {} (switch from {} at {})", tli, databaseId, tli - 1, switchPoint);
            listener.timelineSwitched(chain, tli - 1, tli, switchPoint, key);
        }
    }

    /**
     * What was made durable before counts for this server only as far as its history shares it: after a failover
     * to a standby that had not received everything (a new timeline forking below the durable position), or behind
     * a server that is not as far as the durable position (restored, rewound), the durable position falls back to
     * the fork. Otherwise the stream would resume past WAL this server wrote differently, acknowledge it unseen, and
     * date the window and the next backup's WAL by WAL the repository does not hold.
     */
    void forgetDiverged(ServerIdentity id, int previousTimeline, List<Fork> history) {
        Lsn durable = progress.durable;
        if (durable.equals(Lsn.ZERO)) {
            return;
        }
        Lsn keep = durable;
        if (previousTimeline != 0 && previousTimeline != id.timeline()) {
            Lsn fork = Lsn.ZERO; // a lower timeline, or one whose history does not pass through ours: nothing shared
            if (previousTimeline < id.timeline()) {
                fork = history.stream().filter(f -> f.tli() == previousTimeline).map(Fork::begin).findFirst().orElse(Lsn.ZERO);
            }
            keep = keep.compareTo(fork) <= 0 ? keep : fork;
        }
        if (keep.compareTo(id.position()) > 0) {
            keep = Lsn.ZERO;
        }
        if (keep.compareTo(durable) < 0) {
            log.warn("WAL of {}: the server (timeline {}, at {}) does not share what was streamed up to {} on timeline {}:"
                    + " streaming resumes from {}", databaseId, id.timeline(), id.position(), durable, previousTimeline,
                    keep.equals(Lsn.ZERO) ? "the replication slot's position" : keep);
            progress.durable = keep;
            clock.forgetAfter(keep);
            progress.durableTime = clock.timeOf(keep);
            progress.publishStatus();
        }
    }
}
