package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.layout.RepositoryLayout;
import dev.tidemark.storage.s3.S3ObjectStore;
import dev.tidemark.storage.testing.S3ProxyServer;
import org.junit.jupiter.api.Test;

import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.Eventually;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** WAL streaming through a storage outage and a re-initialised server. */
class WalResilienceTest {
    private static final long SEGMENT = 16L << 20;

    @Test
    void aStorageOutageDelaysUploadsKeepsWalOnTheServerAndLeavesNoGap() throws Exception {
        try (S3ProxyServer s3 = S3ProxyServer.start()) {
            S3ObjectStore store = new S3ObjectStore(s3.settings("wal-outage").withRetries(3, Duration.ofSeconds(2), Duration.ofMillis(20)))
                    .verify(true);
            Repository repo = new Repository(store, new RepositoryLayout(""), new Codec(CodecSettings.defaults(MasterKey.generate())));
            try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "outage")) {
                // the primary's own directory: once storage is back, the backlog is read from its pg_wal
                db.startStreaming(WalListener.NONE, db.cluster.dataDirectory());
                db.cluster.pgbench("postgres", "-i", "-s", "2", "-q");
                s3.outage(true);
                db.cluster.pgbench("postgres", "-c", "2", "-T", "3", "-n");
                db.cluster.pgbench("postgres", "-i", "-s", "5", "-q"); // a backlog of several segments
                switchWal(db.cluster);
                assertThat(db.awaitStatus(s -> s.lastError() != null && s.retainedBytes() > 0, Duration.ofSeconds(30)))
                        .as("the outage is reported and the slot keeps the WAL: %s", db.status()).isTrue();
                s3.outage(false);
                Lsn end = switchWal(db.cluster);
                assertThat(db.durableWal().awaitDurable(db.status().chain(), db.status().timeline(), end, Duration.ofSeconds(120)))
                        .as("everything uploaded once storage is back: %s", db.status()).isTrue();
                List<Long> numbers;
                try (Stream<ObjectInfo> objects = store.list(repo.layout().walPrefix("outage", db.status().chain()))) {
                    numbers = objects.map(o -> o.key().substring(o.key().lastIndexOf('/') + 1)).filter(n -> n.matches("[0-9A-F]{24}"))
                            .map(n -> WalSegment.parse(n, 16L << 20).number()).sorted().toList();
                }
                assertThat(numbers.size()).isGreaterThanOrEqualTo(3);
                for (int i = 1; i < numbers.size(); i++) {
                    assertThat(numbers.get(i)).as("no gap after segment %d", numbers.get(i - 1)).isEqualTo(numbers.get(i - 1) + 1);
                }
                assertThat(WalSegment.containing(1, end, 16L << 20).number() - 1).isEqualTo(numbers.get(numbers.size() - 1));
                assertThat(db.status().segmentsReadLocally()).as("the backlog read from pg_wal").isGreaterThanOrEqualTo(1);

                // and the S3 repository restores: a copy beside, exact, started with none of the engine's environment
                dev.tidemark.engine.basebackup.BaseBackupRunner.Result backup = new dev.tidemark.engine.basebackup.BaseBackupRunner(repo,
                        dev.tidemark.engine.basebackup.BaseBackupRunner.Settings.defaults().withWorkers(2))
                        .run("outage", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
                db.cluster.execute("create table after_outage(x int)", "insert into after_outage values (1)");
                java.util.Map<String, String> atTarget = dev.tidemark.engine.testing.TableChecksums.of(db.cluster);
                java.time.Instant target = db.cluster.serverNow();
                Thread.sleep(1100);
                db.cluster.execute("insert into after_outage values (2)");
                db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));
                Path restoreRoot = Files.createTempDirectory("tidemark-s3-restore-");
                ServerUser.detect().ownOne(restoreRoot);
                Path copy = restoreRoot.resolve("copy");
                int port = PostgresCluster.freePort();
                dev.tidemark.engine.restore.RestoreRunner.Result restored = new dev.tidemark.engine.restore.RestoreRunner(repo,
                        PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()))
                        .run(new dev.tidemark.engine.restore.RestoreRunner.Request("outage", "r1", "b1", backup.manifestSha256(),
                                java.util.Optional.of(target), copy, port, false, "postgres", 2, Duration.ofMinutes(3)));
                try (PostgresCluster copyCluster = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(),
                        ServerUser.detect()).at(copy), port)) {
                    assertThat(dev.tidemark.engine.testing.TableChecksums.of(copyCluster)).as(restored.summary()).isEqualTo(atTarget);
                    dev.tidemark.engine.testing.ServerEnvironment.assertMinimal(copy);
                }
                PostgresCluster.deleteTree(restoreRoot);
            }
        }
    }

    @Test
    void aSlotTheServerInvalidatedIsMadeAgainAndTheStreamGoesOnAfterTheGap() throws Exception {
        Repository repo = dev.tidemark.engine.testing.TestRepositories.file(Files.createTempDirectory("tidemark-lost-slot-"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(false, "max_slot_wal_keep_size = '32MB'"), repo, "lost")) {
            db.startStreaming(WalListener.NONE);
            Lsn before = switchWal(db.cluster);
            assertThat(db.awaitStatus(s -> Lsn.parse(s.durableLsn()).compareTo(before) >= 0, Duration.ofSeconds(60))).isTrue();
            db.stopStreaming();
            // more WAL than the slot may hold while nothing streams: the server invalidates it at a checkpoint
            db.cluster.pgbench("postgres", "-i", "-s", "6", "-q");
            switchWal(db.cluster);
            db.cluster.execute("checkpoint");
            try (Connection c = db.cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select restart_lsn is null from pg_replication_slots where slot_name = 'tidemark_lost'")) {
                assertThat(rs.next() && rs.getBoolean(1)).as("the slot is lost").isTrue();
            }
            db.startStreaming(WalListener.NONE);
            db.cluster.execute("create table after_gap(x int)", "insert into after_gap values (1)");
            Lsn end = switchWal(db.cluster);
            assertThat(db.awaitStatus(s -> Lsn.parse(s.durableLsn()).compareTo(end) >= 0, Duration.ofSeconds(60)))
                    .as("streaming goes on after the gap: %s", db.status()).isTrue();
        }
    }

    @Test
    void aReinitialisedServerIsANewChainAndStreamingStops(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        Repository repo = dev.tidemark.engine.testing.TestRepositories.file(tmp.resolve("repo"));
        AtomicReference<String> changedTo = new AtomicReference<>();
        WalListener listener = new WalListener() {
            @Override public void segmentArchived(String chain, WalSegment segment, long bytes) { }
            @Override public void durable(String chain, int timeline, Lsn lsn, Instant serverTime) { }
            @Override public void timelineSwitched(String chain, int from, int to, Lsn switchPoint, String historyKey) { }
            @Override public void conflict(String chain, WalSegment segment, String existing, String fresh, String keptAs) { }
            @Override public void chainChanged(String expectedChain, String actualChain) {
                changedTo.set(actualChain);
            }
            @Override public void streamFailed(String message, int consecutiveFailures) { }
        };
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "reinit")) {
            db.startStreaming(listener);
            assertThat(db.awaitStatus(s -> s.durableTime() != null, Duration.ofSeconds(30))).isTrue();
            String before = db.status().chain();
            db.cluster.reinitialize();
            assertThat(db.awaitStatus(s -> "chain-changed".equals(s.state()), Duration.ofSeconds(60)))
                    .as("streaming stops with a clear state: %s", db.status()).isTrue();
            assertThat(changedTo.get()).isNotNull().isNotEqualTo(before);
            assertThat(db.status().lastError()).contains("new base backup");
        }
    }

    @Test
    void aServerPutBackAtAnEarlierPositionDoesNotInheritTheDurablePosition(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
            throws Exception {
        Repository repo = dev.tidemark.engine.testing.TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "putback")) {
            db.startStreaming(WalListener.NONE);
            assertThat(db.awaitStatus(s -> s.chain() != null, Duration.ofSeconds(30))).isTrue();
            db.cluster.execute("create table t(x int)", "insert into t values (1)");
            Lsn early = switchWal(db.cluster);
            assertThat(db.durableWal().awaitDurable(db.status().chain(), 1, early, Duration.ofSeconds(60))).isTrue();
            // a copy of the server as it is now: same system, same timeline, put back later behind the same address
            java.nio.file.Path data = db.cluster.dataDirectory();
            java.nio.file.Path copy = db.cluster.root().resolve("copy");
            db.cluster.stopServer();
            run("cp", "-a", data.toString(), copy.toString());
            db.cluster.startServer();
            Lsn later = early;
            for (int i = 0; i < 3; i++) {
                db.cluster.execute("insert into t select generate_series(1, 1000)");
                later = switchWal(db.cluster);
            }
            Lsn durableLater = later;
            assertThat(db.durableWal().awaitDurable(db.status().chain(), 1, durableLater, Duration.ofSeconds(60))).isTrue();
            db.cluster.stopServer();
            run("mv", data.toString(), db.cluster.root().resolve("later").toString());
            run("mv", copy.toString(), data.toString());
            db.cluster.startServer();
            Lsn serverAt;
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select pg_current_wal_lsn()")) {
                r.next();
                serverAt = Lsn.parse(r.getString(1));
            }
            assertThat(serverAt).isLessThan(durableLater);
            // the stream reconnects to a server that never wrote the WAL between its position and the old durable
            // position: that position must not be claimed for it (nor resumed from, which would skip its new WAL)
            assertThat(db.awaitStatus(s -> "streaming".equals(s.state()) && s.durableLsn() != null
                            && Lsn.parse(s.durableLsn()).compareTo(serverAt) <= 0, Duration.ofSeconds(60)))
                    .as("the durable position falls back to what this server shares: %s (server at %s)", db.status(), serverAt).isTrue();
            db.cluster.execute("insert into t select generate_series(1, 1000)");
            Lsn after = switchWal(db.cluster);
            assertThat(db.durableWal().awaitDurable(db.status().chain(), 1, after, Duration.ofSeconds(60)))
                    .as("the new WAL is streamed: %s", db.status()).isTrue();
        }
    }

    /**
     * A failover while the stream is behind: the primary stops with WAL not yet in the repository (storage was out), its
     * standby is promoted (timeline 2) and takes over its address. The stream asks the promoted server for the old
     * timeline's WAL up to the switch under timeline 1's names, then follows timeline 2: no segment missing, every one
     * the same as the server's own copy.
     */
    @Test
    void aStreamBehindAtAPromotionCatchesUpOnTheOldTimelineThenFollowsTheNewOne() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-failover-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        List<String> switches = new CopyOnWriteArrayList<>();
        WalListener listener = new WalListener() {
            @Override public void segmentArchived(String chain, WalSegment segment, long bytes) { }
            @Override public void durable(String chain, int timeline, Lsn lsn, Instant serverTime) { }
            @Override public void timelineSwitched(String chain, int from, int to, Lsn switchPoint, String historyKey) {
                switches.add(from + "->" + to + "@" + switchPoint);
            }
            @Override public void conflict(String chain, WalSegment segment, String existing, String fresh, String keptAs) { }
            @Override public void chainChanged(String expectedChain, String actualChain) { }
            @Override public void streamFailed(String message, int consecutiveFailures) { }
        };
        PgServer standby = null;
        try (S3ProxyServer s3 = S3ProxyServer.start(); PostgresCluster primary = PostgresCluster.start()) {
            S3ObjectStore store = new S3ObjectStore(s3.settings("failover").withRetries(2, Duration.ofSeconds(1), Duration.ofMillis(20)))
                    .verify(true);
            Repository repo = new Repository(store, new RepositoryLayout(""), new Codec(CodecSettings.defaults(MasterKey.generate())));
            Path standbyDir = tmp.resolve("standby");
            standby = PgServer.factory(primary.server().binaries(), user).at(standbyDir);
            standby.run(List.of(primary.server().binaries().tool("pg_basebackup").toString(), "-D", standbyDir.toString(), "-h",
                    "127.0.0.1", "-p", Integer.toString(primary.port()), "-U", "postgres", "-R", "-X", "stream", "-c", "fast"),
                    Duration.ofMinutes(2), "pg_basebackup");
            int standbyPort = PostgresCluster.freePort();
            // the standby keeps its WAL a while, as one that is to take over should (nothing else keeps it for the stream)
            Files.writeString(standbyDir.resolve("postgresql.auto.conf"), "port = " + standbyPort + "\nunix_socket_directories = '"
                    + tmp + "'\nwal_keep_size = '1GB'\n", StandardOpenOption.APPEND);
            standby.start(tmp.resolve("standby.log"), Duration.ofSeconds(60));

            try (StreamedCluster db = new StreamedCluster(primary, repo, "failover")) {
                db.startStreaming(listener);
                db.cluster.pgbench("postgres", "-i", "-s", "1", "-q");
                Lsn before = switchWal(primary);
                assertThat(db.durableWal().awaitDurable(db.status().chain(), 1, before, Duration.ofSeconds(60))).isTrue();
                String chain = db.status().chain();

                s3.outage(true);
                for (int i = 0; i < 3; i++) {
                    primary.execute("update pgbench_accounts set abalance = abalance + 1 where aid % 3 = " + i);
                    switchWal(primary);
                }
                assertThat(db.awaitStatus(s -> s.lastError() != null, Duration.ofSeconds(30))).as("%s", db.status()).isTrue();
                Lsn behind = Lsn.parse(db.status().durableLsn());

                // failover: the primary stops; its standby is promoted and takes over the primary's address
                primary.stopServer();
                standby.promote();
                try (Connection c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + standbyPort + "/postgres",
                        "postgres", "")) {
                    Eventually.await(() -> {
                        try (Statement st = c.createStatement(); ResultSet r = st.executeQuery("select pg_is_in_recovery()")) {
                            r.next();
                            return r.getBoolean(1);
                        } catch (java.sql.SQLException e) {
                            throw new IllegalStateException(e);
                        }
                    }, inRecovery -> !inRecovery, Duration.ofSeconds(60));
                }
                standby.stop();
                Files.writeString(standbyDir.resolve("postgresql.auto.conf"), "port = " + primary.port() + "\n",
                        StandardOpenOption.APPEND);
                standby.start(tmp.resolve("standby.log"), Duration.ofSeconds(60));
                s3.outage(false);

                primary.execute("create table after_failover(x int)", "insert into after_failover values (1)");
                Lsn end = switchWal(primary);
                assertThat(db.durableWal().awaitDurable(chain, 2, end, Duration.ofSeconds(120)))
                        .as("the stream follows the promoted server: %s", db.status()).isTrue();
                assertThat(switches).isNotEmpty().allSatisfy(s -> assertThat(s).isEqualTo(switches.get(0)).startsWith("1->2@"));
                Lsn switchPoint = Lsn.parse(switches.get(0).substring(switches.get(0).indexOf('@') + 1));
                assertThat(behind.compareTo(switchPoint)).as("the stream was behind the switch by more than a segment")
                        .isLessThan(0);
                assertThat(switchPoint.value() / SEGMENT - behind.value() / SEGMENT).isGreaterThanOrEqualTo(2);

                List<String> names;
                try (Stream<ObjectInfo> objects = store.list(repo.layout().walPrefix("failover", chain))) {
                    names = objects.map(o -> o.key().substring(o.key().lastIndexOf('/') + 1)).filter(n -> n.matches("[0-9A-F]{24}"))
                            .sorted().toList();
                }
                long switchSegment = switchPoint.value() / SEGMENT;
                long last = end.value() / SEGMENT - 1;
                List<String> expected = new java.util.ArrayList<>();
                for (long n = WalSegment.parse(names.get(0), SEGMENT).number(); n <= last; n++) {
                    expected.add(new WalSegment(n < switchSegment ? 1 : 2, n, SEGMENT).name());
                }
                assertThat(names).as("timeline 1 up to the switch, timeline 2 from it, nothing missing").containsAll(expected);
                for (String name : expected) {
                    assertThat(repo.openDecoded(repo.layout().walSegment("failover", chain, name)).readAllBytes())
                            .as("segment %s is the server's own", name).isEqualTo(Files.readAllBytes(standbyDir.resolve("pg_wal").resolve(name)));
                }
            }
        } finally {
            if (standby != null) {
                standby.stop();
            }
            PostgresCluster.deleteTree(tmp);
        }
    }

    /**
     * The engine killed after segments were acknowledged to the slot but before the catalog recorded them: the next
     * stream resumes from the recorded end, finds those segments in the repository (the server has recycled them since)
     * and reports them archived, so the recovery window has no hole there.
     */
    @Test
    void segmentsAcknowledgedButNotRecordedAreTakenFromTheRepository(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Repository repo = dev.tidemark.engine.testing.TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "adopt")) {
            db.startStreaming(WalListener.NONE);
            assertThat(db.awaitStatus(s -> s.chain() != null, Duration.ofSeconds(30))).isTrue();
            db.cluster.execute("create table t(x int)");
            Lsn recorded = switchWal(db.cluster); // the catalog's end, as the killed engine left it
            Lsn later = recorded;
            for (int i = 0; i < 4; i++) {
                db.cluster.execute("insert into t select generate_series(1, 1000)");
                later = switchWal(db.cluster);
            }
            String chain = db.status().chain();
            assertThat(db.durableWal().awaitDurable(chain, 1, later, Duration.ofSeconds(60))).isTrue();
            db.stopStreaming();
            db.cluster.execute("checkpoint");
            switchWal(db.cluster);
            db.cluster.execute("checkpoint");
            String first = WalSegment.containing(1, recorded, SEGMENT).name();
            try (Connection c = db.cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select count(*) from pg_ls_waldir() where name = '" + first + "'")) {
                rs.next();
                assertThat(rs.getInt(1)).as("the server recycled %s", first).isZero();
            }

            List<String> reported = new CopyOnWriteArrayList<>();
            WalListener listener = new WalListener() {
                @Override public void segmentArchived(String c, WalSegment segment, long bytes) {
                    reported.add(segment.name());
                }
                @Override public void durable(String c, int timeline, Lsn lsn, Instant serverTime) { }
                @Override public void timelineSwitched(String c, int from, int to, Lsn switchPoint, String historyKey) { }
                @Override public void conflict(String c, WalSegment segment, String existing, String fresh, String keptAs) { }
                @Override public void chainChanged(String expectedChain, String actualChain) { }
                @Override public void streamFailed(String message, int consecutiveFailures) { }
            };
            try (WalStreamer next = new WalStreamer("adopt", db.connections(), repo,
                    WalStreamSettings.defaults("adopt").withPartialInterval(Duration.ofMillis(500)), listener, chain)
                    .resumeFrom(recorded, 1, Instant.now()).start()) {
                db.cluster.execute("insert into t select generate_series(1, 1000)");
                Lsn end = switchWal(db.cluster);
                assertThat(Eventually.await(next::status, s -> s.durableLsn() != null && Lsn.parse(s.durableLsn()).compareTo(end) >= 0,
                        Duration.ofSeconds(60))).isNotNull();
                long from = WalSegment.containing(1, recorded, SEGMENT).number();
                long to = end.value() / SEGMENT - 1;
                List<String> expected = new java.util.ArrayList<>();
                for (long n = from; n <= to; n++) {
                    expected.add(new WalSegment(1, n, SEGMENT).name());
                }
                assertThat(reported).as("every segment from the recorded end on, none twice").containsSubsequence(expected)
                        .doesNotHaveDuplicates();
            }
        }
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as("%s: %s", String.join(" ", command), out).isZero();
    }

    private static Lsn switchWal(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement s = c.createStatement()) {
            s.execute("select pg_switch_wal()");
            try (ResultSet r = s.executeQuery("select pg_current_wal_lsn()")) {
                r.next();
                return Lsn.parse(r.getString(1));
            }
        }
    }
}
