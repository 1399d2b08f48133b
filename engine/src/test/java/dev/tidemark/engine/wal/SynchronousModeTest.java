package dev.tidemark.engine.wal;

import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.node.FencedStore;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.SynchronousState;
import dev.tidemark.engine.restore.RestoreRunner;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.storage.AppendedPieces;
import dev.tidemark.storage.PartialSegment;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;
import dev.tidemark.storage.testing.S3ProxyServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Synchronous mode against a real server: what a client saw acknowledged survives the loss of the primary and its disk
 * (restored to the latest moment from the repository alone), an unreachable repository holds the commits instead of
 * acknowledging them, and switching the mode under load loses nothing.
 */
class SynchronousModeTest {
    private static final String ID = "sync1";
    private static final String NAME = WalStreamSettings.synchronousName(ID);

    private Path tmp;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void scratch() throws Exception {
        tmp = Files.createTempDirectory("tidemark-sync-");
        ServerUser.detect().ownOne(tmp);
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        PostgresCluster.deleteTree(tmp);
    }

    @Test
    void everyAcknowledgedCommitSurvivesTheLossOfThePrimaryInSynchronousMode() throws Exception {
        Lost lost = commitThenLosePrimary(true);
        System.out.printf("synchronous mode: %d commits acknowledged, %d of them lost%n", lost.acknowledged, lost.missing.size());
        assertThat(lost.acknowledged).isGreaterThan(100);
        assertThat(lost.missing).as("acknowledged rows missing after the restore").isEmpty();
    }

    @Test
    void onS3EveryAcknowledgedCommitSurvivesAsPieceObjects() throws Exception {
        try (S3ProxyServer s3 = S3ProxyServer.start()) {
            Repository repo = new Repository(s3.store("synchronous"), new RepositoryLayout(""),
                    new Codec(CodecSettings.defaults(MasterKey.generate())));
            Lost lost = commitThenLosePrimary(repo, true);
            System.out.printf("synchronous mode on S3: %d commits acknowledged, %d of them lost%n", lost.acknowledged, lost.missing.size());
            assertThat(lost.acknowledged).isGreaterThan(20); // an S3Proxy put per group, beside the bulk load's segments
            assertThat(lost.missing).as("acknowledged rows missing after the restore").isEmpty();
        }
    }

    @Test
    void asynchronousModeMayLoseTheLastAcknowledgedCommits() throws Exception {
        Lost lost = commitThenLosePrimary(false);
        // the difference synchronous mode makes: here the last acknowledged commits may be gone (0 is possible)
        System.out.printf("asynchronous mode: %d commits acknowledged, %d of them lost (the newest up to the last partial upload)%n",
                lost.acknowledged, lost.missing.size());
        assertThat(lost.acknowledged).isGreaterThan(100);
    }

    @Test
    void anUnreachableRepositoryHoldsTheCommitsUntilItReturns() throws Exception {
        AtomicBoolean reachable = new AtomicBoolean(true);
        Repository files = TestRepositories.file(tmp.resolve("repo"));
        Repository repo = new Repository(new FencedStore(files.store(), reachable::get, "the test repository"), files.layout(), files.codec());
        List<String> reports = new java.util.concurrent.CopyOnWriteArrayList<>();
        WalListener listener = new Recording(reports);
        StreamedCluster db = streamed(repo, true, listener, Duration.ofSeconds(3));
        db.cluster.execute("create table t(n bigint primary key, at timestamptz default clock_timestamp())");
        BaseBackupRunner.Result backup = backUp(db, repo);

        ConcurrentLinkedQueue<long[]> acks = new ConcurrentLinkedQueue<>(); // {n, nanoTime of the acknowledgement}
        AtomicBoolean stop = new AtomicBoolean();
        Thread client = client(db, 0, stop, acks);
        Thread.sleep(1500);
        reachable.set(false);
        long down = System.nanoTime();
        Thread.sleep(10_000);
        reachable.set(true);
        long up = System.nanoTime();
        Thread.sleep(5000);
        stop.set(true);
        client.join(30_000);

        long duringOutage = acks.stream().filter(a -> a[1] > down + Duration.ofSeconds(1).toNanos() && a[1] < up).count();
        long after = acks.stream().filter(a -> a[1] > up).count();
        long before = acks.stream().filter(a -> a[1] < down).count();
        System.out.printf("repository down 10 s: %d commits acknowledged before, %d during (after its first second), %d after%n",
                before, duringOutage, after);
        assertThat(before).isGreaterThan(10);
        assertThat(duringOutage).as("commits acknowledged while the repository was unreachable").isZero();
        assertThat(after).as("commits go through once the repository is back").isGreaterThan(10);
        assertThat(reports).anyMatch(r -> r.startsWith("stalled")).anyMatch(r -> r.startsWith("resumed"));
        // the commit held during the outage is durable now: nothing acknowledged is missing from the repository
        db.cluster.server().stopImmediately();
        Set<Long> acknowledged = new TreeSet<>();
        acks.forEach(a -> acknowledged.add(a[0]));
        assertThat(restoreLatest(db, repo, backup, acknowledged)).isEmpty();
    }

    @Test
    void switchingTheModeUnderLoadLosesNothing() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        StreamedCluster db = streamed(repo, false, WalListener.NONE, Duration.ofSeconds(10));
        db.cluster.execute("create table t(n bigint primary key, at timestamptz default clock_timestamp())");
        BaseBackupRunner.Result backup = backUp(db, repo);
        ConcurrentLinkedQueue<long[]> acks = new ConcurrentLinkedQueue<>();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> clients = List.of(client(db, 0, stop, acks), client(db, 1, stop, acks));
        boolean synchronous = false;
        for (int i = 0; i < 4; i++) {
            Thread.sleep(1500);
            synchronous = !synchronous;
            // the operator's order (docs/operations.md): the stream first, then the server's setting on; the setting
            // off first, then the stream
            if (!synchronous) {
                setStandbyNames(db, "");
            }
            db.stopStreaming();
            db.startStreaming(settings(synchronous, Duration.ofSeconds(10)), WalListener.NONE);
            if (synchronous) {
                setStandbyNames(db, NAME);
                assertThat(awaitSyncState(db)).isEqualTo("sync");
            }
        }
        Thread.sleep(1500);
        assertThat(synchronous).isFalse();
        synchronous = true;
        db.stopStreaming();
        db.startStreaming(settings(true, Duration.ofSeconds(10)), WalListener.NONE);
        setStandbyNames(db, NAME);
        assertThat(awaitSyncState(db)).isEqualTo("sync");
        Thread.sleep(1500);
        db.cluster.server().stopImmediately();
        stop.set(true);
        for (Thread c : clients) {
            c.join(30_000);
        }
        Set<Long> acknowledged = new TreeSet<>();
        acks.forEach(a -> acknowledged.add(a[0]));
        List<Long> missing = restoreLatest(db, repo, backup, acknowledged);
        System.out.printf("mode switched 5 times under load: %d commits acknowledged, %d lost%n", acknowledged.size(), missing.size());
        assertThat(acknowledged).hasSizeGreaterThan(100);
        assertThat(missing).isEmpty();
    }

    /** What a restore to the latest moment lacks of what the clients saw acknowledged before the primary was lost. */
    private record Lost(int acknowledged, List<Long> missing) {
    }

    private Lost commitThenLosePrimary(boolean synchronous) throws Exception {
        return commitThenLosePrimary(TestRepositories.file(tmp.resolve("repo")), synchronous);
    }

    private Lost commitThenLosePrimary(Repository repo, boolean synchronous) throws Exception {
        StreamedCluster db = streamed(repo, synchronous, WalListener.NONE, Duration.ofSeconds(10));
        db.cluster.execute("create table t(n bigint primary key, at timestamptz default clock_timestamp())");
        BaseBackupRunner.Result backup = backUp(db, repo);
        if (synchronous) {
            // one commit at a time: each is made durable on its own, as a piece after the partial segment: on a file
            // repository a record appended to the segment's one object of pieces, on S3 an object of its own
            for (int i = 1; i <= 5; i++) {
                db.cluster.execute("insert into t(n) values (-" + i + ")");
            }
            long pieces = 0;
            try (var objects = repo.store().list(repo.layout().walPrefix(ID, db.status().chain()))) {
                for (String key : objects.map(o -> o.key()).toList()) {
                    if (AppendedPieces.is(key)) {
                        pieces += AppendedPieces.read(repo, key).size();
                    } else if (PartialSegment.piece(key).isPresent()) {
                        pieces++;
                    }
                }
            }
            assertThat(pieces).as("pieces of the partial segment").isGreaterThanOrEqualTo(4);
            if (repo.store() instanceof FileObjectStore) {
                try (var objects = repo.store().list(repo.layout().walPrefix(ID, db.status().chain()))) {
                    assertThat(objects.filter(o -> PartialSegment.piece(o.key()).isPresent())).as("pieces as objects of their own").isEmpty();
                }
            }
            // the window reaches the last durable commit itself, not only the last clock sample before it (a server-clock
            // sample taken after it, its position durable too, may take it further: never back before the commit)
            java.time.Instant committed;
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("select pg_xact_commit_timestamp(xmin) from t where n = -5")) {
                rs.next();
                committed = rs.getTimestamp(1).toInstant();
            }
            assertThat(db.awaitStatus(st -> st.durableTime() != null && !st.durableTime().isBefore(committed), Duration.ofSeconds(5)))
                    .as("durable time %s reaches the last commit's %s", db.status().durableTime(), committed).isTrue();
        }
        ConcurrentLinkedQueue<long[]> acks = new ConcurrentLinkedQueue<>();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> clients = List.of(client(db, 0, stop, acks), client(db, 1, stop, acks), client(db, 2, stop, acks),
                bulk(db, stop));
        // at least 4 s of load, and in synchronous mode until 4 whole segments are stored beside the pieces (a slow
        // machine or S3 server takes longer to complete them: the wait is on the repository, not on the clock)
        long loadEnds = System.nanoTime() + Duration.ofSeconds(4).toNanos();
        long giveUp = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (System.nanoTime() < loadEnds || (synchronous && wholeSegments(repo, db) < 4 && System.nanoTime() < giveUp)) {
            Thread.sleep(250);
        }
        db.cluster.server().stopImmediately(); // pg_ctl -m immediate, the clients still committing
        stop.set(true);
        for (Thread c : clients) {
            c.join(30_000);
        }
        Set<Long> acknowledged = new TreeSet<>();
        acks.forEach(a -> acknowledged.add(a[0]));
        long segments = wholeSegments(repo, db);
        System.out.printf("%s mode: %d whole segments stored%n", synchronous ? "synchronous" : "asynchronous", segments);
        if (synchronous) {
            assertThat(segments).as("segments completed under the load").isGreaterThanOrEqualTo(4);
        }
        return new Lost(acknowledged.size(), restoreLatest(db, repo, backup, acknowledged));
    }

    /** The whole segments of the database's chain stored in the repository. */
    private static long wholeSegments(Repository repo, StreamedCluster db) throws Exception {
        try (var objects = repo.store().list(repo.layout().walPrefix(ID, db.status().chain()))) {
            return objects.filter(o -> o.key().matches(".*/[0-9A-F]{24}")).count();
        }
    }

    /**
     * Stops the stream, deletes the primary's data directory, restores the latest moment of the repository beside and
     * returns the acknowledged numbers the restored table lacks.
     */
    private List<Long> restoreLatest(StreamedCluster db, Repository repo, BaseBackupRunner.Result backup, Set<Long> acknowledged)
            throws Exception {
        db.stopStreaming();
        PostgresCluster.deleteTree(db.cluster.dataDirectory());
        Path target = tmp.resolve("restored");
        int port = PostgresCluster.freePort();
        PgServer.Factory servers = PgServer.factory(db.cluster.server().binaries(), ServerUser.detect());
        new RestoreRunner(repo, servers).run(new RestoreRunner.Request(ID, "r1", "b1", backup.manifestSha256(), Optional.empty(),
                target, port, false, "postgres", 2, Duration.ofMinutes(3)));
        PostgresCluster restored = PostgresCluster.attach(servers.at(target), port);
        closing.add(restored::stopServer);
        Set<Long> present = new TreeSet<>();
        try (Connection c = restored.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select n from t")) {
            while (rs.next()) {
                present.add(rs.getLong(1));
            }
        }
        return acknowledged.stream().filter(n -> !present.contains(n)).toList();
    }

    private BaseBackupRunner.Result backUp(StreamedCluster db, Repository repo) throws Exception {
        return new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                .run(ID, "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
    }

    private StreamedCluster streamed(Repository repo, boolean synchronous, WalListener listener, Duration stallWarning) throws Exception {
        PostgresCluster cluster = PostgresCluster.start(false, synchronous
                // no autovacuum: an automatic analyze of the test's table commits too, and the window's end is checked
                // against the test's own last commit
                ? new String[]{"synchronous_standby_names = '" + NAME + "'", "track_commit_timestamp = on", "autovacuum = off"}
                : new String[0]);
        StreamedCluster db = new StreamedCluster(cluster, repo, ID);
        closing.add(db);
        db.startStreaming(settings(synchronous, stallWarning), listener);
        if (synchronous) {
            assertThat(awaitSyncState(db)).as("the server waits for the stream").isEqualTo("sync");
        }
        return db;
    }

    private static WalStreamSettings settings(boolean synchronous, Duration stallWarning) {
        return WalStreamSettings.defaults(ID).withPartialInterval(Duration.ofMillis(500)).withSynchronous(synchronous, stallWarning);
    }

    private static String awaitSyncState(StreamedCluster db) throws Exception {
        String state = null;
        for (int i = 0; i < 100; i++) {
            state = SynchronousState.of(db.connections(), NAME);
            if ("sync".equals(state)) {
                break;
            }
            Thread.sleep(100);
        }
        return state;
    }

    private static void setStandbyNames(StreamedCluster db, String names) {
        db.cluster.execute("alter system set synchronous_standby_names = '" + names + "'", "select pg_reload_conf()");
    }

    /** A client committing numbered rows one by one (autocommit), recording each acknowledged number and when. */
    private static Thread client(StreamedCluster db, int number, AtomicBoolean stop, ConcurrentLinkedQueue<long[]> acks) {
        AtomicInteger next = new AtomicInteger();
        Thread t = new Thread(() -> {
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement()) {
                while (!stop.get()) {
                    long n = number * 1_000_000_000L + next.incrementAndGet();
                    s.execute("insert into t(n) values (" + n + ")");
                    acks.add(new long[]{n, System.nanoTime()});
                }
            } catch (SQLException e) {
                // the primary went away: what it acknowledged before is recorded
            }
        }, "client-" + number);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** A client writing 8 MiB of WAL per statement, so that segments complete while the others commit. */
    private static Thread bulk(StreamedCluster db, AtomicBoolean stop) {
        Thread t = new Thread(() -> {
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement()) {
                s.execute("create table if not exists bulk(n int, filler text)");
                while (!stop.get()) {
                    s.execute("insert into bulk select g, repeat(md5(g::text), 60) from generate_series(1, 4000) g");
                }
            } catch (SQLException e) {
                // the primary went away
            }
        }, "bulk");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Records the stall reports. */
    private record Recording(List<String> reports) implements WalListener {
        @Override public void segmentArchived(String chain, dev.tidemark.engine.postgres.WalSegment segment, long bytes) { }
        @Override public void durable(String chain, int timeline, dev.tidemark.engine.postgres.Lsn lsn, java.time.Instant serverTime) { }
        @Override public void timelineSwitched(String chain, int from, int to, dev.tidemark.engine.postgres.Lsn switchPoint, String historyKey) { }
        @Override public void conflict(String chain, dev.tidemark.engine.postgres.WalSegment segment, String existing, String fresh, String keptAs) { }
        @Override public void chainChanged(String expectedChain, String actualChain) { }
        @Override public void streamFailed(String message, int consecutiveFailures) { }

        @Override
        public void synchronousStalled(Duration waited, String lastError) {
            reports.add("stalled after " + waited + ": " + lastError);
        }

        @Override
        public void synchronousResumed(Duration waited) {
            reports.add("resumed after " + waited);
        }
    }
}
