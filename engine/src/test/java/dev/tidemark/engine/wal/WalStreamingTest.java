package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

class WalStreamingTest {

    @Test
    void everyStreamedSegmentIsByteIdenticalToTheServersOwnCopy(@TempDir Path tmp) throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        List<String> archived = new CopyOnWriteArrayList<>();
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(true), repo, "wal-identity")) {
            Path archive = db.cluster.archiveDirectory();
            db.startStreaming(recording(archived));
            db.cluster.pgbench("postgres", "-i", "-s", "3", "-q");
            db.cluster.pgbench("postgres", "-c", "4", "-T", "3", "-n");
            // Stop and start the streamer in the middle of the load: nothing may go missing.
            db.stopStreaming();
            db.cluster.pgbench("postgres", "-c", "2", "-T", "2", "-n");
            db.startStreaming(recording(archived));
            db.cluster.pgbench("postgres", "-c", "2", "-T", "2", "-n");
            Lsn end = switchWal(db.cluster);
            assertThat(db.durableWal().awaitDurable(db.status().chain(), db.status().timeline(), end, Duration.ofSeconds(60))).isTrue();

            String chain = db.status().chain();
            long segSize = 16L << 20;
            long last = WalSegment.containing(1, end, segSize).number() - 1;
            long first;
            try (Stream<ObjectInfo> objects = repo.store().list(repo.layout().walPrefix("wal-identity", chain))) {
                first = objects.map(o -> o.key().substring(o.key().lastIndexOf('/') + 1)).filter(n -> n.matches("[0-9A-F]{24}"))
                        .mapToLong(n -> WalSegment.parse(n, segSize).number()).min().orElseThrow();
            }
            assertThat(last - first).as("segments streamed").isGreaterThanOrEqualTo(2);
            for (long n = first; n <= last; n++) {
                String name = new WalSegment(1, n, segSize).name();
                Path copy = archive.resolve(name);
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (!Files.exists(copy) && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                try (InputStream in = repo.openDecoded(repo.layout().walSegment("wal-identity", chain, name))) {
                    assertThat(in.readAllBytes()).as("segment %s", name).isEqualTo(Files.readAllBytes(copy));
                }
                assertThat(archived).contains(name);
            }
        }
    }

    @Test
    void theDurableTimeAdvancesOnAnIdleDatabase(@TempDir Path tmp) throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "idle")) {
            db.startStreaming(WalListener.NONE);
            db.awaitDurableTime(Instant.now().minusSeconds(5), Duration.ofSeconds(30));
            Instant first = db.status().durableTime();
            Thread.sleep(2500);
            db.awaitDurableTime(first.plusSeconds(2), Duration.ofSeconds(20));
            assertThat(db.status().durableTime()).isAfter(first.plusSeconds(1));
            assertThat(db.status().lagBytes()).isZero();
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

    private static Lsn switchWal(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement st = c.createStatement()) {
            st.execute("create table if not exists tick(x int)");
            st.execute("insert into tick values (1)");
            try (ResultSet rs = st.executeQuery("select pg_switch_wal()::text")) {
                rs.next();
            }
            try (ResultSet rs = st.executeQuery("select pg_current_wal_lsn()::text")) {
                rs.next();
                return Lsn.parse(rs.getString(1));
            }
        }
    }
}
