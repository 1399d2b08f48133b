package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.engine.wal.WalStreamSettings;
import dev.tidemark.engine.wal.WalStreamStatus;
import dev.tidemark.engine.wal.WalStreamer;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.PartialSegment;
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
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An asynchronous stream stores the segment being written once whole, then only what is new as pieces after it, now and
 * then whole again so the pieces stay few; the restore's WAL spool reads partial segment and pieces as the server's own
 * bytes.
 */
class StreamedPiecesTest {
    private static final long SEGMENT = 16L << 20;
    private static final String ID = "pieces";

    @TempDir
    Path tmp;

    @Test
    void anAsynchronousStreamStoresOnlyTheNewBytesAsPiecesAndTheRestoreReadsThemAsTheServersSegment() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (PostgresCluster cluster = PostgresCluster.start();
             WalStreamer streamer = new WalStreamer(ID, PgConnections.parse(cluster.url(), null), repo,
                     WalStreamSettings.defaults(ID).withPartialInterval(Duration.ofMillis(200)), WalListener.NONE, null).start()) {
            cluster.execute("create table t(n int, pad text)");
            Lsn start = switchWal(cluster);
            WalSegment segment = WalSegment.containing(1, start, SEGMENT);
            assertThat(awaitDurable(streamer, start, 60)).isTrue();
            // one commit at a time, each uploaded on its own
            for (int i = 1; i <= 6; i++) {
                commitAndAwait(cluster, streamer, i);
            }
            String chain = streamer.status().chain();
            String partialKey = repo.layout().walPartial(ID, chain, segment.name());
            List<Part> pieces = parts(repo, partialKey);
            long whole = decodedLength(repo, partialKey);
            assertThat(pieces).as("uploads after the first, as pieces").hasSizeGreaterThanOrEqualTo(4);
            assertContiguous(repo, whole, pieces);

            // many more: the partial segment is stored whole again and its pieces stay bounded
            for (int i = 7; i <= 45; i++) {
                commitAndAwait(cluster, streamer, i);
            }
            streamer.close();
            long durable = Lsn.parse(streamer.status().durableLsn()).value() - start.value();
            List<Part> later = parts(repo, partialKey);
            long wholeLater = decodedLength(repo, partialKey);
            assertThat(wholeLater).as("the partial segment stored whole again").isGreaterThan(whole);
            assertThat(later).as("pieces after it").hasSizeLessThan(40);
            assertContiguous(repo, wholeLater, later);
            assertThat(later.isEmpty() ? wholeLater : later.get(later.size() - 1).end()).as("what is durable").isEqualTo(durable);

            // the restore's spool: the partial segment and its pieces, padded to a segment, as the server wrote them
            byte[] server = Arrays.copyOf(Files.readAllBytes(cluster.dataDirectory().resolve("pg_wal").resolve(segment.name())),
                    (int) durable);
            List<ObjectInfo> objects;
            try (Stream<ObjectInfo> all = repo.store().list(repo.layout().walPrefix(ID, chain))) {
                objects = all.toList();
            }
            ServerUser.detect().ownOne(tmp);
            try (WalSpool spool = new WalSpool(repo, tmp.resolve("spool"), objects, SEGMENT, 2, "r", ServerUser.detect())) {
                spool.start();
                Path spooled = spool.segment(segment.name()).orElseThrow();
                byte[] restored = Files.readAllBytes(spooled);
                assertThat(restored).hasSize((int) SEGMENT);
                assertThat(Arrays.equals(Arrays.copyOf(restored, (int) durable), server)).as("the spooled segment's first %d bytes"
                        + " are the server's", durable).isTrue();
            }
        }
    }

    /** A piece as stored: an object of its own, or a record appended to the segment's one file (a file repository). */
    private record Part(String name, long start, long end, long bytes) {
    }

    /** The pieces after the partial segment, in either form, by first offset. */
    private static List<Part> parts(Repository repo, String partialKey) throws Exception {
        List<Part> parts = new java.util.ArrayList<>();
        for (PartialSegment.Piece p : PartialSegment.pieces(repo.store(), partialKey)) {
            parts.add(new Part(p.key(), p.start(), p.end(), decodedLength(repo, p.key())));
        }
        for (dev.tidemark.storage.AppendedPieces.Record r : dev.tidemark.storage.AppendedPieces.read(repo,
                partialKey + dev.tidemark.storage.AppendedPieces.SUFFIX)) {
            parts.add(new Part("record " + r.start() + "-" + r.end(), r.start(), r.end(), r.bytes().length));
        }
        parts.sort(java.util.Comparator.comparingLong(Part::start));
        return parts;
    }

    /** Each piece holds exactly its bytes and starts where the partial segment, or the piece before it, ends. */
    private static void assertContiguous(Repository repo, long whole, List<Part> pieces) {
        long end = whole;
        for (Part p : pieces) {
            assertThat(p.start()).as("%s follows on at %d", p.name(), end).isEqualTo(end);
            assertThat(p.bytes()).as("%s holds only the new bytes", p.name()).isEqualTo(p.end() - p.start());
            end = p.end();
        }
    }

    private static long decodedLength(Repository repo, String key) throws Exception {
        try (InputStream in = repo.openDecoded(key)) {
            return in.transferTo(java.io.OutputStream.nullOutputStream());
        }
    }

    private static void commitAndAwait(PostgresCluster cluster, WalStreamer streamer, int n) throws Exception {
        cluster.execute("insert into t values (" + n + ", repeat('x', 300))");
        assertThat(awaitDurable(streamer, cluster.currentLsn(), 30)).as("%s", streamer.status()).isTrue();
    }

    private static boolean awaitDurable(WalStreamer streamer, Lsn lsn, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
        while (System.nanoTime() < deadline) {
            WalStreamStatus s = streamer.status();
            if (s != null && s.chain() != null && Lsn.parse(s.durableLsn()).compareTo(lsn) >= 0) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }

    private static Lsn switchWal(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement st = c.createStatement()) {
            st.execute("insert into t values (0, 'switch')");
            try (ResultSet rs = st.executeQuery("select pg_switch_wal()::text")) {
                rs.next();
            }
        }
        return cluster.currentLsn().segmentStart(SEGMENT);
    }
}
