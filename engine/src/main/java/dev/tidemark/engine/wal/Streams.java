package dev.tidemark.engine.wal;

import dev.tidemark.engine.basebackup.DurableWal;
import dev.tidemark.engine.basebackup.StreamedWal;
import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.DatabaseHistory.WalRange;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.WalSegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The WAL streams of the databases this node protects: started and stopped as ownership, connection and chain change,
 * and what they report into the catalog.
 */
public final class Streams implements StreamedWal, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Streams.class);
    private static final String ACTOR = "wal-stream";

    private final Node node;
    private final Duration partialInterval;
    private final WalBuffers buffers;
    private final Catalog catalog;
    private final Clock clock;
    private final Map<String, Stream> streams = new ConcurrentHashMap<>();

    private final class Stream {
        final String databaseId;
        final WalStreamer streamer;
        final WalRecorder recorder;
        final boolean synchronous;
        final Deque<WalRecorder.Batch> unsent = new ArrayDeque<>();

        Stream(DatabaseHistory db) {
            this.databaseId = db.id();
            this.recorder = new WalRecorder(this::record, Duration.ofSeconds(30), Duration.ofMinutes(5), 64, clock, 16L << 20);
            PgConnections source = node.primary(db);
            this.synchronous = db.policy().synchronous();
            WalStreamSettings settings = WalStreamSettings.defaults(db.id()).withPartialInterval(partialInterval)
                    .withSynchronous(synchronous, stallWarning());
            // issue 20 (fencing): the stream writes through a store that refuses writes once the lease is not held
            dev.tidemark.storage.Repository fenced = new dev.tidemark.storage.Repository(new dev.tidemark.engine.node.FencedStore(
                    node.repository().store(), () -> node.mayWrite(databaseId), "database " + databaseId),
                    node.repository().layout(), node.repository().codec());
            this.streamer = new WalStreamer(db.id(), source, fenced, settings, listener(), db.chain(), buffers);
            if (db.standbyUrl() == null && db.pgdata() != null) {
                streamer.readLocalWal(Path.of(db.pgdata())); // the primary's own directory: a backlog is read from its pg_wal
            }
            if (db.chain() != null) {
                // the newest timeline's end, as recorded: where the stream resumes if the slot is newer than it
                db.wal().stream().filter(r -> r.chain().equals(db.chain()) && r.endLsn() != null)
                        .max(Comparator.comparingInt(WalRange::timeline).thenComparing(r -> Lsn.parse(r.endLsn())))
                        .ifPresent(r -> streamer.resumeFrom(Lsn.parse(r.endLsn()), r.timeline(), r.lastTime()));
            }
        }

        /** Records a batch; batches the catalog could not take are kept and sent first next time, in order. */
        synchronized void record(WalRecorder.Batch batch) {
            unsent.addLast(batch);
            while (!unsent.isEmpty()) {
                WalRecorder.Batch b = unsent.peekFirst();
                try {
                    catalog.send(new Commands.RecordWal(databaseId, b.chain(), b.timeline(), b.firstSegment(), b.lastSegment(),
                            b.firstByteTime(), b.lastByteTime(), b.bytes(), b.endLsn()), ACTOR);
                    unsent.removeFirst();
                } catch (RuntimeException e) {
                    LOG.warn("could not record WAL {}..{} of {} in the catalog (kept, retried with the next batch): {}",
                            b.firstSegment(), b.lastSegment(), databaseId, e.getMessage());
                    return;
                }
            }
        }

        private WalListener listener() {
            return new WalListener() {
                @Override
                public void segmentArchived(String chain, WalSegment segment, long bytes) {
                    recorder.segmentArchived(chain, segment, bytes);
                }

                @Override
                public void durable(String chain, int timeline, Lsn lsn, Instant serverTime) {
                    recorder.durable(chain, timeline, lsn, serverTime);
                }

                @Override
                public void timelineSwitched(String chain, int from, int to, Lsn switchPoint, String historyKey) {
                    recorder.flush();
                    send(new Commands.RecordTimelineSwitch(databaseId, chain, from, to, switchPoint.toString(), clock.instant()));
                }

                @Override
                public void conflict(String chain, WalSegment segment, String existing, String fresh, String keptAs) {
                    LOG.error("WAL segment {} of {} arrived with other content than the stored one; the first is kept, the new one "
                            + "set aside as {}: investigate (two servers writing one chain?)", segment.name(), databaseId, keptAs);
                    send(new Commands.RecordWalConflict(databaseId, chain, segment.name(), existing, fresh, keptAs, clock.instant()));
                }

                @Override
                public void chainChanged(String expectedChain, String actualChain) {
                    recorder.flush();
                    send(new Commands.RecordChainChange(databaseId, expectedChain, actualChain, clock.instant()));
                }

                @Override
                public void synchronousStalled(Duration waited, String lastError) {
                    LOG.warn("database {} streams synchronously and its WAL has waited {} s to become durable in the repository{}:"
                            + " the server's commits wait until it is (see docs/operations.md, synchronous mode)", databaseId,
                            waited.toSeconds(), lastError == null ? "" : " (" + lastError + ")");
                    send(new Commands.RecordSynchronousStall(databaseId, waited.toMillis() / 1000.0, lastError, clock.instant()));
                }

                @Override
                public void synchronousResumed(Duration waited) {
                    LOG.info("database {}: its WAL is durable again after a synchronous stall of {} s", databaseId, waited.toSeconds());
                    send(new Commands.RecordSynchronousResume(databaseId, waited.toMillis() / 1000.0, clock.instant()));
                }

                @Override
                public void streamFailed(String message, int consecutiveFailures) {
                    // the streamer logs each failure itself; the status carries the last one
                }
            };
        }

        private void send(Object command) {
            try {
                catalog.send(command, ACTOR);
            } catch (RuntimeException e) {
                LOG.warn("could not record {} of {} in the catalog: {}", command.getClass().getSimpleName(), databaseId, e.getMessage());
            }
        }
    }

    /**
     * partialInterval: how often the WAL segment being written is uploaded; buffers: the segment memory, uploaders and spool
     * every stream of this node shares. Registers the streams' event handlers.
     */
    public Streams(Node node, Duration partialInterval, WalBuffers buffers) {
        this.node = node;
        this.buffers = buffers;
        this.partialInterval = partialInterval;
        this.catalog = node.catalog();
        this.clock = node.clock();
        LOG.info("{}", buffers);
        node.events().onAny(DatabaseEvent.OwnerAssigned.class, e -> {
            if (e.node().equals(node.id())) {
                node.find(e.databaseId()).filter(DatabaseHistory::active).ifPresent(this::start);
            } else {
                stop(e.databaseId());
            }
        });
        // issue 20: a lease takeover or drain recorded in the catalog
        node.events().onAny(DatabaseEvent.OwnerChanged.class, e -> {
            if (e.to().equals(node.id())) {
                node.find(e.databaseId()).filter(DatabaseHistory::active).ifPresent(this::start);
            } else {
                stop(e.databaseId());
            }
        });
        node.events().onOwned(DatabaseEvent.ChainChanged.class, e -> {
            stop(e.databaseId());
            LOG.error("database {}: the server is another system now ({} instead of {}): streaming stopped; the old chain stays "
                    + "restorable until retention removes it; register the server under a new id to protect it",
                    e.databaseId(), e.actualChain(), e.expectedChain());
        });
        // a thread of its own: the job pool may be busy with long backups and restores of other databases
        node.events().onOwned(DatabaseEvent.ConnectionChanged.class, e -> Thread.ofPlatform().name("restream-" + e.databaseId())
                .daemon().start(() -> restart(e.databaseId())));
        // synchronous mode switched: the stream starts again under the other application name, from what is durable
        node.events().onOwned(DatabaseEvent.PolicyChanged.class, e -> {
            Stream s = streams.get(e.databaseId());
            if (s != null && s.synchronous != e.policy().synchronous()) {
                LOG.info("database {}: WAL streaming switches to {} mode", e.databaseId(), e.policy().synchronous() ? "synchronous" : "asynchronous");
                Thread.ofPlatform().name("restream-" + e.databaseId()).daemon().start(() -> restart(e.databaseId()));
            }
        });
    }

    /**
     * How long WAL may wait to become durable in synchronous mode before the stall is reported (an event, the
     * tidemark_wal_synchronous_stall_seconds metric): JVM option -Dtidemark.wal.synchronous-stall-warning, in seconds or
     * as an ISO duration (PT30S), 10 s by default.
     */
    static Duration stallWarning() {
        String value = System.getProperty("tidemark.wal.synchronous-stall-warning", "10").trim();
        try {
            Duration d = value.matches("\\d+") ? Duration.ofSeconds(Long.parseLong(value)) : Duration.parse(value);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException();
            }
            return d;
        } catch (RuntimeException e) {
            LOG.warn("-Dtidemark.wal.synchronous-stall-warning={} is not a number of seconds nor an ISO duration (PT30S): using 10 s", value);
            return Duration.ofSeconds(10);
        }
    }

    /** At start: streams every active database this node owns. */
    public void startOwned() {
        for (DatabaseHistory db : catalog.view().databases()) {
            if (db.active() && node.owned(db.id())) {
                start(db);
            }
        }
    }

    /** Stops the database's stream and starts it again from the catalog's record, if the database is still active. */
    public void restart(String databaseId) {
        stop(databaseId);
        node.find(databaseId).filter(DatabaseHistory::active).ifPresent(this::start);
    }

    public void start(DatabaseHistory db) {
        if (!node.owned(db.id())) {
            return; // issue 20: only while this node holds the database's lease
        }
        streams.computeIfAbsent(db.id(), id -> {
            Stream s = new Stream(db);
            s.streamer.start();
            LOG.info("streaming WAL of {} from {}", id, PgConnections.parse(db.pgUrl(), null));
            return s;
        });
    }

    public void stop(String databaseId) {
        Stream s = streams.remove(databaseId);
        if (s != null) {
            s.streamer.close();
            s.recorder.flush();
        }
    }

    public Optional<WalStreamStatus> status(String databaseId) {
        Stream s = streams.get(databaseId);
        return s == null ? Optional.empty() : Optional.ofNullable(s.streamer.status());
    }

    /** Hands the WAL gathered so far to the catalog (before a restore is planned or a backup completes). */
    @Override
    public void flush(String databaseId) {
        Stream s = streams.get(databaseId);
        if (s != null) {
            s.recorder.flush();
        }
    }

    /**
     * What the live stream has made durable beyond the recorded segments, for the window and restore plans; for a
     * database another node streams, what that node last shared (a few seconds old).
     */
    public Commands.LiveWal live(String databaseId) {
        Stream stream = streams.get(databaseId);
        if (stream == null) {
            // issue 20: another node streams it: as that node last shared it (the owner's own stopped stream: nothing)
            return node.owned(databaseId) ? null : node.livePositions().get(databaseId);
        }
        Lsn pending = stream == null ? null : stream.recorder.pendingFrom();
        return status(databaseId).filter(s -> s.chain() != null && s.durableLsn() != null && s.durableTime() != null)
                .map(s -> new Commands.LiveWal(s.chain(), s.timeline(), s.durableLsn(), s.durableTime(),
                        pending == null ? s.durableLsn() : pending.toString())).orElse(null);
    }

    /**
     * Waits (up to timeout) until the stream's durable server time reaches time, so that a backup reported complete is
     * inside the recovery window at once; the stream is asked to sample the server clock now.
     */
    @Override
    public void awaitDurableTime(String databaseId, Instant time, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            Commands.LiveWal live = live(databaseId);
            if (live != null && !live.time().isBefore(time)) {
                return;
            }
            Stream s = streams.get(databaseId);
            if (s != null) {
                s.streamer.sampleSoon(); // rather than waiting up to a sample interval for the next one
            }
            Thread.sleep(10); // an in-memory check: a backup completes within 10 ms of its time being durable
        }
    }

    /** Waits until the database's stream has made durable every byte of chain below lsn. */
    @Override
    public DurableWal durableWal(String databaseId) {
        return (chain, timeline, lsn, timeout) -> {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                Optional<WalStreamStatus> s = status(databaseId);
                // the timeline too: a stream that has not yet followed a promotion reports a position of the old
                // history, which may lie past the backup's stop position without holding its WAL
                if (s.isPresent() && chain.equals(s.get().chain()) && s.get().timeline() >= timeline && s.get().durableLsn() != null
                        && Lsn.parse(s.get().durableLsn()).compareTo(lsn) >= 0) {
                    return true;
                }
                Stream stream = streams.get(databaseId);
                if (stream != null) {
                    stream.streamer.wake(); // the WAL waited for may have arrived while the stream waits for its next poll
                }
                Thread.sleep(10); // an in-memory check; at 100 ms it was a tenth of a second of every backup's time
            }
            return false;
        };
    }

    @Override
    public void close() {
        for (String id : streams.keySet()) {
            stop(id);
        }
    }
}
