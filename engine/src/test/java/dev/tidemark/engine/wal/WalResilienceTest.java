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

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** WAL streaming through a storage outage and a re-initialised server. */
class WalResilienceTest {

    @Test
    void aStorageOutageDelaysUploadsKeepsWalOnTheServerAndLeavesNoGap() throws Exception {
        try (S3ProxyServer s3 = S3ProxyServer.start()) {
            S3ObjectStore store = new S3ObjectStore(s3.settings("wal-outage").withRetries(3, Duration.ofSeconds(2), Duration.ofMillis(20)))
                    .verify(true);
            Repository repo = new Repository(store, new RepositoryLayout(""), new Codec(CodecSettings.defaults(MasterKey.generate())));
            try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "outage")) {
                db.startStreaming(WalListener.NONE);
                db.cluster.pgbench("postgres", "-i", "-s", "2", "-q");
                s3.outage(true);
                db.cluster.pgbench("postgres", "-c", "2", "-T", "3", "-n");
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
            }
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
