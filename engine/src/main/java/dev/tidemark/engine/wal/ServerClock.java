package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerQueries;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.OptionalInt;

/**
 * The server's clock as one stream sees it: samples of the server's time and WAL position map a WAL position to the
 * newest server time it covers, so the recovery window advances even on an idle database. A sample also reads how much
 * WAL the slot holds on the server, and tells whether the server changed timeline or role.
 */
final class ServerClock {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class); // the stream's log lines keep their logger
    /** Size of the page header that opens every WAL segment (XLogLongPageHeaderData). */
    private static final long LONG_PAGE_HEADER = 40;
    /** How long the stream goes on while its clock samples fail before it starts again ({@link #sampleTolerating}). */
    static final Duration FAILURES_TOLERATED = Duration.ofSeconds(10);

    private final String databaseId;
    private final WalStreamSettings settings;
    private final Deque<ClockSample> samples = new ArrayDeque<>();
    /** Set by {@link #sampleSoon()}: the next turn of the stream loop samples the server clock. */
    private volatile boolean sampleRequested;
    private long segmentSize = 16L << 20;
    private long serverLsn;
    private Instant serverTime;
    private long retainedBytes;
    private boolean retainedWarned;
    /** Since when (System.nanoTime) samples fail, 0 while they succeed. */
    private long failingSince;

    ServerClock(String databaseId, WalStreamSettings settings) {
        this.databaseId = databaseId;
        this.settings = settings;
    }

    /** The segment size of the server streamed from, which says where a segment boundary lies. */
    void segmentSize(long segmentSize) {
        this.segmentSize = segmentSize;
    }

    /** Asks for a sample at the stream's next turn instead of at the next interval. */
    void sampleSoon() {
        sampleRequested = true;
    }

    /** Whether the stream loop samples now: the interval passed (nextSample) or a sample was asked for. */
    boolean due(long now, long nextSample) {
        if (now >= nextSample || sampleRequested) {
            sampleRequested = false;
            return true;
        }
        return false;
    }

    /** The server's WAL position at the last sample, 0 before the first. */
    long serverLsn() {
        return serverLsn;
    }

    /** The server's time at the last sample, null before the first. */
    Instant serverTime() {
        return serverTime;
    }

    /** WAL the replication slot held on the server at the last sample. */
    long retainedBytes() {
        return retainedBytes;
    }

    /** Forgets the samples past kept: WAL the server no longer shares with what was streamed. */
    void forgetAfter(Lsn kept) {
        long keptValue = kept.value();
        samples.removeIf(sample -> Long.compareUnsigned(sample.lsn, keptValue) > 0);
    }

    /**
     * The newest sampled server time whose WAL position lies at or below lsn. Right after a segment switch the server
     * reports its position past the new segment's page header although no record follows: that counts as reached.
     */
    Instant timeOf(Lsn lsn) {
        Instant best = null;
        boolean atBoundary = lsn.value() % segmentSize == 0;
        for (ClockSample s : samples) {
            boolean reached = Long.compareUnsigned(s.lsn, lsn.value()) <= 0
                    || (atBoundary && s.lsn - lsn.value() <= LONG_PAGE_HEADER);
            if (reached && (best == null || s.time.isAfter(best))) {
                best = s.time;
            }
        }
        return best;
    }

    /**
     * As {@link #sample}, but a failing sample is tolerated for {@link #FAILURES_TOLERATED} (empty then) before its
     * failure is thrown: a server shutting down ends its ordinary sessions, this sample's among them, before its walsenders
     * send the shutdown checkpoint, which the stream must still take. now: System.nanoTime().
     */
    OptionalInt sampleTolerating(Connection sql, ServerIdentity id, long now) throws SQLException {
        try {
            int timeline = sample(sql, id);
            failingSince = 0;
            return OptionalInt.of(timeline);
        } catch (SQLException e) {
            if (failingSince == 0) {
                failingSince = now;
            }
            if (now - failingSince > FAILURES_TOLERATED.toNanos()) {
                throw e;
            }
            log.debug("clock sample of {} failed, streaming on: {}", databaseId, e.getMessage());
            return OptionalInt.empty();
        }
    }

    /** Samples the server's clock, WAL position and the slot's retained WAL; returns the server's timeline. */
    int sample(Connection sql, ServerIdentity id) throws SQLException {
        ServerQueries.ClockReading now = new ServerQueries(sql).clockReading(id.standby(), settings.slotName());
        Instant time = now.time();
        String lsnText = now.lsn();
        int serverTimeline = now.timeline() == null ? id.timeline() : now.timeline();
        boolean inRecovery = now.inRecovery();
        retainedBytes = now.retainedBytes();
        if (inRecovery != id.standby()) {
            return -1;
        }
        if (lsnText != null) {
            serverLsn = Lsn.parse(lsnText).value();
            serverTime = time;
            samples.addLast(new ClockSample(time, serverLsn));
            while (samples.size() > 600) {
                samples.removeFirst();
            }
        }
        if (retainedBytes > settings.retainedWarnBytes() && !retainedWarned) {
            retainedWarned = true;
            log.warn("replication slot {} of {} holds {} MiB of WAL on the server (warning threshold {} MiB): "
                            + "check the repository is reachable before the server's disk fills",
                    settings.slotName(), databaseId, retainedBytes >> 20, settings.retainedWarnBytes() >> 20);
        } else if (retainedBytes < settings.retainedWarnBytes() / 2) {
            retainedWarned = false;
        }
        return serverTimeline;
    }

    private record ClockSample(Instant time, long lsn) {
    }
}
