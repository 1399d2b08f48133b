package dev.tidemark.engine.testing;

import dev.tidemark.engine.basebackup.DurableWal;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.wal.WalBuffers;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.engine.wal.WalStreamSettings;
import dev.tidemark.engine.wal.WalStreamStatus;
import dev.tidemark.engine.wal.WalStreamer;
import dev.tidemark.storage.Repository;

import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.ObjectInfo;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

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
        return startStreaming(listener, pgdata, null);
    }

    /** As {@link #startStreaming(WalListener, Path)}, on an engine's shared buffers (null: the standalone ones). */
    public StreamedCluster startStreaming(WalListener listener, java.nio.file.Path pgdata, WalBuffers buffers) {
        WalStreamSettings settings = WalStreamSettings.defaults(databaseId).withPartialInterval(Duration.ofMillis(500));
        streamer = buffers == null ? new WalStreamer(databaseId, connections(), repository, settings, listener, null)
                : new WalStreamer(databaseId, connections(), repository, settings, listener, null, buffers);
        if (pgdata != null) {
            streamer.readLocalWal(pgdata);
        }
        streamer.start();
        return this;
    }

    /** Streams with the given settings (synchronous mode, for one), on the standalone buffers. */
    public StreamedCluster startStreaming(WalStreamSettings settings, WalListener listener) {
        streamer = new WalStreamer(databaseId, connections(), repository, settings, listener, null);
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

    /**
     * Every segment the repository holds below end's segment, decoded, equals the server's own copy (the archive_command
     * copy of the test cluster) and was reported archived; returns how many there are.
     */
    public static long assertStoredAsOnServer(Repository repo, String databaseId, String chain, Path archive, Lsn end,
                                               List<String> archived) throws Exception {
        long segSize = 16L << 20;
        long last = WalSegment.containing(1, end, segSize).number() - 1;
        long first;
        try (Stream<ObjectInfo> objects = repo.store().list(repo.layout().walPrefix(databaseId, chain))) {
            first = objects.map(o -> o.key().substring(o.key().lastIndexOf('/') + 1)).filter(n -> n.matches("[0-9A-F]{24}"))
                    .mapToLong(n -> WalSegment.parse(n, segSize).number()).min().orElseThrow();
        }
        for (long n = first; n <= last; n++) {
            String name = new WalSegment(1, n, segSize).name();
            Path copy = archive.resolve(name);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!Files.exists(copy) && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            try (InputStream in = repo.openDecoded(repo.layout().walSegment(databaseId, chain, name))) {
                assertThat(in.readAllBytes()).as("segment %s", name).isEqualTo(Files.readAllBytes(copy));
            }
            assertThat(archived).contains(name);
        }
        return last - first + 1;
    }
}
