package dev.tidemark.engine;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalBuffers;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import static dev.tidemark.engine.testing.Eventually.await;
import static dev.tidemark.engine.testing.StreamedCluster.assertStoredAsOnServer;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Many databases on one engine (issue 19): their streams share the engine's buffers and uploaders, each one's WAL is the
 * server's byte for byte, one writing hard holds no other back, an idle one uploads nothing; and more jobs than the
 * node's limit wait in order, their place shown.
 */
class FleetTest {
    private static final Logger LOG = LoggerFactory.getLogger(FleetTest.class);
    private static final long SEGMENT = 16L << 20;
    /** Clusters in the fleet: 30 unless -Dtidemark.fleet.databases says otherwise. */
    private static final int DATABASES = Integer.getInteger("tidemark.fleet.databases", 30);

    @Test
    void aFleetStreamsOnSharedBuffersByteForByteAndAHardWriterHoldsNoOneBack(@TempDir Path tmp) throws Exception {
        long began = System.nanoTime();
        List<PostgresCluster> clusters = startClusters(DATABASES);
        LOG.info("{} clusters started in {} s", DATABASES, (System.nanoTime() - began) / 1_000_000_000);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        WalBuffers buffers = new WalBuffers(64L << 20, 4, tmp.resolve("spool"));
        List<StreamedCluster> dbs = new ArrayList<>();
        List<List<String>> archived = new ArrayList<>();
        ExecutorService load = Executors.newFixedThreadPool(2);
        AtomicBoolean loading = new AtomicBoolean(true);
        try {
            for (int i = 0; i < DATABASES; i++) {
                PostgresCluster c = clusters.get(i);
                // a fresh segment, and a checkpoint in it so that the new slot starts there: the partial uploads of a light
                // load stay small (each still encodes the segment so far, see docs/architecture.md, "A database is cheap")
                switchWal(c);
                c.execute("checkpoint");
                List<String> names = new CopyOnWriteArrayList<>();
                archived.add(names);
                dbs.add(new StreamedCluster(c, repo, "fleet-" + i).startStreaming(recording(names), null, buffers));
            }
            for (StreamedCluster db : dbs) {
                assertThat(db.awaitStatus(s -> "streaming".equals(s.state()), Duration.ofSeconds(60))).as(db.databaseId).isTrue();
            }
            LOG.info("{} streams streaming after {} s", DATABASES, (System.nanoTime() - began) / 1_000_000_000);

            // a light load on every database but the first, all along
            Future<?> light = load.submit(() -> {
                long n = 0;
                while (loading.get()) {
                    for (int i = 1; i < DATABASES && loading.get(); i++) {
                        clusters.get(i).execute("create table if not exists t(x bigint)", "insert into t values (" + n++ + ")");
                    }
                    sleep(200);
                }
                return null;
            });
            // the first writes hard, several segments a second, while the others' commits are timed until durable
            Future<?> hard = load.submit(() -> clusters.get(0).pgbench("postgres", "-i", "-s", "10", "-q"));
            long worstMillis = 0;
            long worstLagBytes = 0;
            int rounds = 0;
            while (!hard.isDone() || rounds < 3) {
                Map<StreamedCluster, Lsn> committed = new java.util.HashMap<>();
                for (StreamedCluster db : dbs.subList(1, DATABASES)) {
                    committed.put(db, commitAndLsn(db.cluster));
                }
                long t0 = System.nanoTime();
                for (var e : committed.entrySet()) {
                    assertThat(e.getKey().awaitStatus(s -> Lsn.parse(s.durableLsn()).compareTo(e.getValue()) >= 0, Duration.ofSeconds(60)))
                            .as("%s durable past its last commit %s: %s; %s", e.getKey().databaseId, e.getValue(), e.getKey().status(),
                                    stackOf("wal-" + e.getKey().databaseId)).isTrue();
                    worstLagBytes = Math.max(worstLagBytes, e.getKey().status().lagBytes());
                }
                worstMillis = Math.max(worstMillis, (System.nanoTime() - t0) / 1_000_000);
                rounds++;
            }
            hard.get();
            LOG.info("while one database wrote hard, the others' last commits were durable within {} ms at worst ({} rounds),"
                    + " lag at most {} bytes", worstMillis, rounds, worstLagBytes);
            assertThat(worstLagBytes).as("no light database lags a segment behind").isLessThan(SEGMENT);
            assertThat(worstMillis).as("a light database's last commit durable in seconds").isLessThan(20_000);
            assertThat(dbs.get(0).status().segmentsArchived()).as("the hard writer's segments").isGreaterThanOrEqualTo(5);

            loading.set(false);
            light.get();
            // idle: no segment buffer lent out, at most the partial segment spooled per stream, nothing uploaded
            for (StreamedCluster db : dbs) {
                Lsn now = db.cluster.currentLsn();
                assertThat(db.awaitStatus(s -> Lsn.parse(s.durableLsn()).compareTo(now) >= 0, Duration.ofSeconds(60))).isTrue();
            }
            // the last partial uploads and acknowledgements settle: nothing written to the repository for a second and a
            // half (a loaded machine takes longer than an idle one to send what was durable locally before)
            long settleBy = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            do {
                Thread.sleep(500);
            } while (newestObject(tmp.resolve("repo")).isAfter(Instant.now().minusMillis(1500)) && System.nanoTime() < settleBy);
            List<Lsn> quietStart = new ArrayList<>(); // what each stream had made durable
            for (StreamedCluster db : dbs) {
                quietStart.add(Lsn.parse(db.status().durableLsn()));
            }
            Instant quietFrom = Instant.now();
            Thread.sleep(3000);
            assertThat(buffers.borrowedMib()).as("segment buffers lent out while idle").isZero();
            try (Stream<Path> spooled = Files.walk(tmp.resolve("spool"))) {
                assertThat(spooled.filter(Files::isRegularFile).count()).as("spooled files").isLessThanOrEqualTo(DATABASES);
            }
            // a server writes a little WAL of its own now and then (a running-transactions record, a checkpoint): only the
            // streams of those with bytes beyond what their stream had made durable may have uploaded anything
            java.util.Set<String> wrote = new java.util.HashSet<>();
            for (int i = 0; i < DATABASES; i++) {
                Lsn before = quietStart.get(i);
                StreamedCluster db = dbs.get(i);
                if (db.cluster.currentLsn().compareTo(before) > 0) {
                    wrote.add(db.databaseId);
                }
            }
            try (Stream<Path> objects = Files.walk(tmp.resolve("repo"))) {
                List<Path> written = objects.filter(Files::isRegularFile).filter(p -> lastModified(p).toInstant().isAfter(quietFrom))
                        .map(p -> tmp.resolve("repo").relativize(p)).toList();
                List<String> uploaded = written.stream().map(p -> p.getName(1).toString()).distinct().toList();
                LOG.info("idle for 3 s: {} of {} servers had new WAL of their own, {} streams uploaded: {}", wrote.size(), DATABASES,
                        uploaded.size(), written);
                // a stream whose server wrote nothing may still finish one upload of what it had (the full suite's load
                // delayed one now and then past the settling above); one that kept uploading (a piece every partial
                // interval, six in these 3 s) would be polling its server's nothing
                java.util.Map<String, Long> byIdle = written.stream().filter(p -> !wrote.contains(p.getName(1).toString()))
                        .collect(java.util.stream.Collectors.groupingBy(p -> p.getName(1).toString(), java.util.stream.Collectors.counting()));
                assertThat(byIdle.values()).as("objects written while idle by streams whose server wrote nothing (servers that wrote: %s;"
                        + " objects written: %s)", wrote, written).allMatch(n -> n <= 1);
            }

            // every segment of every database in the repository is the server's own
            long segments = 0;
            for (int i = 0; i < DATABASES; i++) {
                StreamedCluster db = dbs.get(i);
                Lsn end = switchWal(db.cluster);
                assertThat(db.durableWal().awaitDurable(db.status().chain(), 1, end, Duration.ofSeconds(60))).as(db.databaseId).isTrue();
                segments += assertStoredAsOnServer(repo, db.databaseId, db.status().chain(), db.cluster.archiveDirectory(), end,
                        archived.get(i));
            }
            LOG.info("{} segments of {} databases byte-identical; the test took {} s", segments, DATABASES,
                    (System.nanoTime() - began) / 1_000_000_000);
        } finally {
            loading.set(false);
            load.shutdownNow();
            dbs.forEach(StreamedCluster::stopStreaming);
            closeAll(clusters);
        }
    }

    @Test
    void moreBaseBackupsThanTheLimitWaitTheirTurnInOrderWithTheirPlaceShown() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-fleet-");
        ServerUser.detect().ownOne(tmp);
        List<PostgresCluster> clusters = startClusters(4);
        EngineConfig base = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("data/master.key"));
        EngineConfig config = new EngineConfig(base.dataDirectory(), null, null, null, base.repository(), base.masterKeyFile(), false,
                "zstd", 3, null, null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1").withFleetLimits(0, 1);
        try (Engine engine = Engine.start(config)) {
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < clusters.size(); i++) {
                PostgresCluster c = clusters.get(i);
                c.execute("create table filler as select g, repeat('x', 200) as pad from generate_series(1, 100000) g");
                engine.register(new RegisterDatabase("queued-" + i, c.url(), c.dataDirectory().toString(), null, null), "alice");
                ids.add("queued-" + i);
            }
            List<BackupView> requested = new ArrayList<>();
            for (String id : ids) {
                requested.add(engine.requestBaseBackup(id, "alice"));
            }
            // the last one asked for waits behind the other three (one running, two before it in the queue)
            BackupView last = await(() -> engine.baseBackup(ids.get(3), requested.get(3).id()),
                    b -> b.queuePosition() != null && b.queuePosition() == 3 || !"requested".equals(b.status()), Duration.ofSeconds(30));
            assertThat(last.queuePosition()).as("place of the fourth backup while the first runs").isEqualTo(3);
            assertThat(last.status()).isEqualTo("requested");

            List<BackupView> done = new ArrayList<>();
            for (int i = 0; i < ids.size(); i++) {
                String id = ids.get(i);
                String backupId = requested.get(i).id();
                BackupView b = await(() -> engine.baseBackup(id, backupId), v -> !v.status().matches("requested|running"),
                        Duration.ofMinutes(3));
                assertThat(b.status()).as(b.failure()).isEqualTo("completed");
                assertThat(b.queuePosition()).isNull();
                done.add(b);
            }
            for (int i = 1; i < done.size(); i++) {
                assertThat(done.get(i).startedAt()).as("backup %d starts after %d completed (one at a time, in order)", i, i - 1)
                        .isAfterOrEqualTo(done.get(i - 1).completedAt());
            }
        } finally {
            closeAll(clusters);
            PostgresCluster.deleteTree(tmp);
        }
    }

    /** Small clusters (16 MB shared buffers, 10 connections), archiving every segment, started two at a time. */
    private static List<PostgresCluster> startClusters(int n) throws Exception {
        ExecutorService starters = Executors.newFixedThreadPool(2);
        try {
            List<Future<PostgresCluster>> started = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                started.add(starters.submit(() -> PostgresCluster.start(true, "shared_buffers = 16MB", "max_connections = 10",
                        "max_wal_senders = 4", "max_replication_slots = 4", "autovacuum = off")));
            }
            List<PostgresCluster> clusters = new ArrayList<>();
            for (Future<PostgresCluster> f : started) {
                clusters.add(f.get());
            }
            return clusters;
        } finally {
            starters.shutdown();
        }
    }

    private static void closeAll(List<PostgresCluster> clusters) {
        clusters.parallelStream().forEach(PostgresCluster::close);
    }

    private static Lsn commitAndLsn(PostgresCluster cluster) throws Exception {
        cluster.execute("create table if not exists t(x bigint)", "insert into t values (-1)");
        return cluster.currentLsn();
    }

    private static Lsn switchWal(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement st = c.createStatement()) {
            st.execute("create table if not exists t(x bigint)");
            st.execute("insert into t values (0)");
            try (ResultSet rs = st.executeQuery("select pg_switch_wal()::text")) {
                rs.next();
            }
        }
        return cluster.currentLsn();
    }

    /** The stack of the thread of that name, for a failure's message. */
    private static String stackOf(String threadName) {
        return Thread.getAllStackTraces().entrySet().stream().filter(t -> t.getKey().getName().equals(threadName))
                .map(t -> threadName + ": " + java.util.Arrays.toString(t.getValue())).findFirst().orElse("no thread " + threadName);
    }

    /** When the newest object under root was last written. */
    private static Instant newestObject(Path root) throws java.io.IOException {
        try (Stream<Path> objects = Files.walk(root)) {
            return objects.filter(Files::isRegularFile).map(p -> lastModified(p).toInstant()).max(Instant::compareTo).orElse(Instant.EPOCH);
        } catch (java.io.UncheckedIOException e) {
            return Instant.now(); // a file went while it was listed: still writing
        }
    }

    private static FileTime lastModified(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (java.io.IOException e) {
            return FileTime.fromMillis(0);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static WalListener recording(List<String> archived) {
        return new WalListener() {
            @Override public void segmentArchived(String chain, WalSegment segment, long bytes) {
                archived.add(segment.name());
            }
            @Override public void durable(String chain, int timeline, Lsn lsn, Instant serverTime) { }
            @Override public void timelineSwitched(String chain, int from, int to, Lsn switchPoint, String historyKey) { }
            @Override public void conflict(String chain, WalSegment segment, String existing, String fresh, String keptAs) {
                throw new AssertionError("unexpected conflict on " + segment);
            }
            @Override public void chainChanged(String expectedChain, String actualChain) { }
            @Override public void streamFailed(String message, int consecutiveFailures) { }
        };
    }
}
