package dev.tidemark.engine.testing;

import dev.tidemark.engine.basebackup.DurableWal;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.engine.wal.WalStreamSettings;
import dev.tidemark.engine.wal.WalStreamStatus;
import dev.tidemark.engine.wal.WalStreamer;
import dev.tidemark.storage.Repository;

import java.time.Duration;
import java.time.Instant;
import java.util.function.Predicate;

/** A test cluster whose WAL a streamer sends into a repository, with waits on what the stream has made durable. */
public final class StreamedCluster implements AutoCloseable {
    public final PostgresCluster cluster;
    public final Repository repository;
    public final String databaseId;
    private WalStreamer streamer;

    public StreamedCluster(PostgresCluster cluster, Repository repository, String databaseId) {
        this.cluster = cluster;
        this.repository = repository;
        this.databaseId = databaseId;
    }

    public PgConnections connections() {
        return PgConnections.parse(cluster.url(), null);
    }

    public StreamedCluster startStreaming(WalListener listener) {
        return startStreaming(listener, null);
    }

    /** Streams, reading a backlog from pgdata's pg_wal when pgdata is given (WalStreamer.readLocalWal). */
    public StreamedCluster startStreaming(WalListener listener, java.nio.file.Path pgdata) {
        streamer = new WalStreamer(databaseId, connections(), repository,
                WalStreamSettings.defaults(databaseId).withPartialInterval(Duration.ofMillis(500)), listener, null);
        if (pgdata != null) {
            streamer.readLocalWal(pgdata);
        }
        streamer.start();
        return this;
    }

    public void stopStreaming() {
        if (streamer != null) {
            streamer.close();
            streamer = null;
        }
    }

    public WalStreamer streamer() {
        return streamer;
    }

    public WalStreamStatus status() {
        return streamer.status();
    }

    /** Waits until the stream has made durable every byte below lsn. */
    public DurableWal durableWal() {
        return (chain, timeline, lsn, timeout) -> awaitStatus(s -> chain.equals(s.chain()) && s.timeline() >= timeline
                && Lsn.parse(s.durableLsn()).compareTo(lsn) >= 0, timeout);
    }

    /** Waits until the stream's durable server time reaches time. */
    public void awaitDurableTime(Instant time, Duration timeout) throws InterruptedException {
        if (!awaitStatus(s -> s.durableTime() != null && !s.durableTime().isBefore(time), timeout)) {
            throw new AssertionError("WAL up to " + time + " did not become durable within " + timeout + "; status " + status());
        }
    }

    public boolean awaitStatus(Predicate<WalStreamStatus> condition, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            WalStreamStatus s = streamer.status();
            if (s != null && s.chain() != null && condition.test(s)) {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }

    @Override
    public void close() {
        stopStreaming();
        cluster.close();
    }
}
