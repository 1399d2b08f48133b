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

import static dev.tidemark.engine.testing.StreamedCluster.assertStoredAsOnServer;
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

            assertThat(assertStoredAsOnServer(repo, "wal-identity", db.status().chain(), archive, end, archived))
                    .as("segments streamed").isGreaterThanOrEqualTo(3);
        }
    }

    @Test
    void aBacklogIsReadFromThePrimarysOwnPgWalByteForByteAndTheStreamGoesOnFromThere(@TempDir Path tmp) throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        List<String> archived = new CopyOnWriteArrayList<>();
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(true), repo, "wal-local")) {
            Path archive = db.cluster.archiveDirectory();
            Path pgdata = db.cluster.dataDirectory();
            db.startStreaming(recording(archived), pgdata);
            Lsn before = switchWal(db.cluster);
            assertThat(awaitDurable(db, before, 60)).isTrue();
            assertThat(db.status().segmentsReadLocally()).as("nothing to catch up with at first").isZero();
            db.stopStreaming();

            // a backlog of several segments while nothing streams: the slot keeps it on the server
            db.cluster.pgbench("postgres", "-i", "-s", "8", "-q");
            Lsn backlog = switchWal(db.cluster);
            db.startStreaming(recording(archived), pgdata);
            assertThat(awaitDurable(db, backlog, 120)).isTrue();
            // the catch-up counts what it read once its last segment is acknowledged, a moment after that one is durable
            db.awaitStatus(st -> st.segmentsReadLocally() >= 3, Duration.ofSeconds(10));
            assertThat(db.status().segmentsReadLocally()).as("segments read from pg_wal").isGreaterThanOrEqualTo(3);

            // the stream goes on after the catch-up
            db.cluster.execute("insert into tick values (2)");
            Lsn end = switchWal(db.cluster);
            assertThat(awaitDurable(db, end, 60)).isTrue();
            assertThat(db.status().state()).isEqualTo("streaming");
            assertThat(assertStoredAsOnServer(repo, "wal-local", db.status().chain(), archive, end, archived)).isGreaterThanOrEqualTo(8);
            try (Connection c = db.cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select restart_lsn::text from pg_replication_slots where slot_name = 'tidemark_wal_local'")) {
                assertThat(rs.next()).isTrue();
                assertThat(Lsn.parse(rs.getString(1))).as("the slot moved past the backlog").isGreaterThanOrEqualTo(backlog.segmentStart(16L << 20));
            }
        }
    }

    @Test
    void aDataDirectoryThatIsNotTheLiveOneIsNotReadAndEverythingComesThroughTheStream(@TempDir Path tmp) throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        List<String> archived = new CopyOnWriteArrayList<>();
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(true), repo, "wal-copy")) {
            Path copy = tmp.resolve("copy");
            db.startStreaming(recording(archived));
            Lsn before = switchWal(db.cluster);
            assertThat(awaitDurable(db, before, 60)).isTrue();
            db.stopStreaming();
            db.cluster.pgbench("postgres", "-i", "-s", "6", "-q");
            Lsn backlog = switchWal(db.cluster);
            // a copy of the live directory, postmaster.pid and all, its pg_wal with the same segments: not the server's own
            copyTree(db.cluster.dataDirectory(), copy);
            db.startStreaming(recording(archived), copy);
            assertThat(awaitDurable(db, backlog, 120)).isTrue();
            assertThat(db.status().segmentsReadLocally()).isZero();
            assertStoredAsOnServer(repo, "wal-copy", db.status().chain(), db.cluster.archiveDirectory(), backlog, archived);

            // the same backlog again, the live directory given this time: read from it
            db.stopStreaming();
            db.cluster.pgbench("postgres", "-i", "-s", "6", "-q");
            Lsn again = switchWal(db.cluster);
            db.startStreaming(recording(archived), db.cluster.dataDirectory());
            assertThat(awaitDurable(db, again, 120)).isTrue();
            // the catch-up counts what it read once its last segment is acknowledged, a moment after that one is durable
            db.awaitStatus(st -> st.segmentsReadLocally() >= 1, Duration.ofSeconds(10));
            assertThat(db.status().segmentsReadLocally()).isGreaterThanOrEqualTo(1);
            assertStoredAsOnServer(repo, "wal-copy", db.status().chain(), db.cluster.archiveDirectory(), again, archived);
        }
    }

    @Test
    void aConflictDuringACatchUpIsLeftToTheStreamWhichComparesTheServersOwnBytes(@TempDir Path tmp) throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        List<String> conflicts = new CopyOnWriteArrayList<>();
        List<String> archived = new CopyOnWriteArrayList<>();
        WalListener listener = recording(archived, conflicts);
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(true), repo, "wal-conflict")) {
            Path pgdata = db.cluster.dataDirectory();
            db.startStreaming(listener, pgdata);
            Lsn before = switchWal(db.cluster);
            assertThat(awaitDurable(db, before, 60)).isTrue();
            String chain = db.status().chain();
            db.stopStreaming();
            db.cluster.pgbench("postgres", "-i", "-s", "8", "-q");
            Lsn backlog = switchWal(db.cluster);
            // the repository already holds other bytes for the backlog's third segment (another server's, say)
            WalSegment odd = new WalSegment(1, before.value() / (16L << 20) + 2, 16L << 20);
            repo.putEncoded(repo.layout().walSegment("wal-conflict", chain, odd.name()), new java.io.ByteArrayInputStream(new byte[16 << 20]));
            db.startStreaming(listener, pgdata);
            assertThat(awaitDurable(db, backlog, 120)).as("%s", db.status()).isTrue();
            assertThat(db.status().segmentsReadLocally()).as("read up to the conflicting segment, not past it").isEqualTo(2);
            assertThat(conflicts).as("the stream, comparing the server's bytes, reports it once").containsExactly(odd.name());
            // every other segment is the server's own; the conflicting one keeps the first bytes (the conflict rule)
            long segSize = 16L << 20;
            for (long n = odd.number() + 1; n < WalSegment.containing(1, backlog, segSize).number(); n++) {
                String name = new WalSegment(1, n, segSize).name();
                try (InputStream in = repo.openDecoded(repo.layout().walSegment("wal-conflict", chain, name))) {
                    assertThat(in.readAllBytes()).as("segment %s", name).isEqualTo(Files.readAllBytes(db.cluster.archiveDirectory().resolve(name)));
                }
            }
        }
    }

    @Test
    void aSegmentFileIsTrustedOnlyWhenEveryPageHeaderBelongsToIt(@TempDir Path tmp) throws Exception {
        try (PostgresCluster cluster = PostgresCluster.start(true)) {
            cluster.pgbench("postgres", "-i", "-s", "2", "-q");
            Lsn end = switchWal(cluster); // the segment before end is ended by a switch: zeroed padding follows its last record
            long segSize = 16L << 20;
            long systemId;
            try (Connection c = cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select system_identifier from pg_control_system()")) {
                rs.next();
                systemId = rs.getLong(1);
            }
            WalSegment switched = WalSegment.containing(1, end, segSize);
            switched = new WalSegment(1, switched.number() - 1, segSize);
            WalSegment full = new WalSegment(1, switched.number() - 1, segSize);
            Path archive = cluster.archiveDirectory();
            for (WalSegment s : List.of(full, switched)) {
                Path copy = archive.resolve(s.name());
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (!Files.exists(copy) && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
            }
            byte[] fullBytes = Files.readAllBytes(archive.resolve(full.name()));
            byte[] switchedBytes = Files.readAllBytes(archive.resolve(switched.name()));
            assertThat(LocalWal.invalid(fullBytes, full, systemId)).isNull();
            assertThat(LocalWal.invalid(switchedBytes, switched, systemId)).as("a segment ended by a switch").isNull();

            assertThat(LocalWal.invalid(fullBytes, switched, systemId)).as("another segment's content (a recycled file)")
                    .contains("the page at offset 0 ");
            assertThat(LocalWal.invalid(fullBytes, full, systemId + 1)).contains("belongs to system");
            byte[] torn = fullBytes.clone();
            torn[8192 * 100 + 8] ^= 1; // one page's address
            assertThat(LocalWal.invalid(torn, full, systemId)).contains("offset " + 8192 * 100);
            byte[] stale = switchedBytes.clone();
            System.arraycopy(fullBytes, stale.length - 8192, stale, stale.length - 8192, 8192); // old content in the padding
            assertThat(LocalWal.invalid(stale, switched, systemId)).contains("after its segment switch");
            byte[] unfinished = fullBytes.clone(); // a new file the server had not written to the end: zero-filled from a page on
            java.util.Arrays.fill(unfinished, 8192 * 1000, unfinished.length, (byte) 0);
            assertThat(LocalWal.invalid(unfinished, full, systemId)).contains("zeroed pages");
            byte[] afterSwitch = switchedBytes.clone();
            afterSwitch[afterSwitch.length - 100] = 1; // data in the body of the padding
            assertThat(LocalWal.invalid(afterSwitch, switched, systemId)).contains("after its segment switch");
            byte[] zeros = new byte[(int) segSize];
            assertThat(LocalWal.invalid(zeros, full, systemId)).contains("does not open");
        }
    }

    private static boolean awaitDurable(StreamedCluster db, Lsn lsn, int seconds) throws InterruptedException {
        return db.awaitStatus(s -> Lsn.parse(s.durableLsn()).compareTo(lsn) >= 0, Duration.ofSeconds(seconds));
    }

    private static void copyTree(Path from, Path to) throws java.io.IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(f, target);
                }
            }
        }
    }

    @Test
    void halfASegmentWrittenIsUploadedWithoutWaitingForTheInterval(@TempDir Path tmp) throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (PostgresCluster cluster = PostgresCluster.start();
             WalStreamer streamer = new WalStreamer("half", dev.tidemark.engine.postgres.PgConnections.parse(cluster.url(), null), repo,
                     WalStreamSettings.defaults("half").withPartialInterval(Duration.ofHours(1)), WalListener.NONE, null).start()) {
            Lsn start = switchWal(cluster).segmentStart(16L << 20);
            assertThat(awaitDurable(streamer, start, 60)).isTrue();
            cluster.execute("create table big as select g, repeat('x', 500) as filler from generate_series(1, 20000) g");
            Lsn written;
            try (Connection c = cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select pg_current_wal_lsn()::text")) {
                rs.next();
                written = Lsn.parse(rs.getString(1));
            }
            assertThat(written.value() - start.value()).as("more than half a segment, less than one")
                    .isBetween(8L << 20, (16L << 20) - 1);
            // the interval is an hour: only the half-segment rule can make this durable now
            assertThat(awaitDurable(streamer, start.plus(8L << 20), 30)).as("%s", streamer.status()).isTrue();
        }
    }

    @Test
    void aQuietStreamSleepsUntilTheServerSendsSomethingAndAnswersItsKeepalives(@TempDir Path tmp) throws Exception {
        assertThat(ArrivalWatch.available()).as("pgjdbc's connection input is reachable: quiet streams do not poll").isTrue();
        try (PostgresCluster cluster = PostgresCluster.start()) {
            quietStreamKeepsItsConnection(cluster, TestRepositories.file(tmp.resolve("repo")), "quiet", false);
        }
    }

    @Test
    void overTlsAsWellTheWatchAndTheStreamShareTheConnection(@TempDir Path tmp) throws Exception {
        // Debian's clusters have ssl = on, and pgjdbc prefers TLS: the watcher's read and the stream's writes meet in
        // the JDK's SSLSocket
        try (PostgresCluster cluster = PostgresCluster.start()) {
            Path data = cluster.dataDirectory();
            Process openssl = new ProcessBuilder("openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", data.resolve("server.key").toString(), "-out", data.resolve("server.crt").toString())
                    .redirectErrorStream(true).start();
            String said = new String(openssl.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertThat(openssl.waitFor()).as(said).isZero();
            Files.setPosixFilePermissions(data.resolve("server.key"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            dev.tidemark.engine.postgres.ServerUser user = dev.tidemark.engine.postgres.ServerUser.detect();
            user.ownOne(data.resolve("server.key"));
            user.ownOne(data.resolve("server.crt"));
            cluster.execute("alter system set ssl = on");
            cluster.execute("select pg_reload_conf()");
            quietStreamKeepsItsConnection(cluster, TestRepositories.file(tmp.resolve("repo")), "quiet-tls", true);
        }
    }

    /**
     * A stream on a server that drops a receiver silent for 2 s (and asks for an answer after 1 s): it waits for its
     * connection instead of polling it, answers every keepalive on the same connection through a quiet spell, takes
     * WAL written after it, and its watcher ends with it.
     */
    private static void quietStreamKeepsItsConnection(PostgresCluster cluster, Repository repo, String id, boolean tls) throws Exception {
        cluster.execute("alter system set wal_sender_timeout = '2s'");
        cluster.execute("select pg_reload_conf()");
        try (WalStreamer streamer = new WalStreamer(id, dev.tidemark.engine.postgres.PgConnections.parse(cluster.url(), null),
                repo, WalStreamSettings.defaults(id), WalListener.NONE, null).start()) {
            Lsn start = switchWal(cluster);
            assertThat(awaitDurable(streamer, start, 60)).isTrue();
            assertThat(Thread.getAllStackTraces().keySet()).as("the stream waits for its connection instead of polling it")
                    .anyMatch(t -> t.getName().equals("wal-watch-" + id) && t.isAlive());
            assertThat(walsender(cluster)).as("the stream's connection uses TLS").endsWith("|" + tls);
            String walsender = walsender(cluster);
            Thread.sleep(6000); // three of the server's timeouts, with nothing to stream
            assertThat(walsender(cluster)).as("the same connection: every keepalive was answered").isEqualTo(walsender);
            assertThat(streamer.status().lastError()).isNull();
            Lsn later = switchWal(cluster);
            assertThat(awaitDurable(streamer, later, 30)).as("%s", streamer.status()).isTrue();
        }
        assertThat(Thread.getAllStackTraces().keySet()).as("the watcher ends with the stream")
                .noneMatch(t -> t.getName().equals("wal-watch-" + id) && t.isAlive());
    }

    @Test
    void theWalAServerSendsAsItShutsDownIsMadeDurableWhenTheStreamEnds(@TempDir Path tmp) throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (PostgresCluster cluster = PostgresCluster.start()) {
            // the walsender of a server shutting down waits this long for the stream to acknowledge its last WAL
            cluster.execute("alter system set wal_sender_timeout = '3s'");
            cluster.execute("select pg_reload_conf()");
            try (WalStreamer streamer = new WalStreamer("shutdown", dev.tidemark.engine.postgres.PgConnections.parse(cluster.url(), null),
                    repo, WalStreamSettings.defaults("shutdown").withPartialInterval(Duration.ofHours(1)), WalListener.NONE, null).start()) {
                Lsn switched = switchWal(cluster);
                assertThat(awaitDurable(streamer, switched.segmentStart(16L << 20), 60)).isTrue();
                cluster.execute("insert into tick values (2)");
                // a fast shutdown ends the stream's clock session first, then sends the shutdown checkpoint to the stream
                cluster.stopServer();
                Lsn checkpoint = latestCheckpoint(cluster);
                assertThat(checkpoint).isGreaterThan(switched);
                // the partial interval is an hour: only the end of the stream makes the shutdown checkpoint durable, and
                // without it a restore in place without a copy would refuse this directory
                assertThat(awaitDurable(streamer, checkpoint.plus(1), 30)).as("%s", streamer.status()).isTrue();
            }
        }
    }

    private static Lsn latestCheckpoint(PostgresCluster cluster) throws Exception {
        Process p = new ProcessBuilder(cluster.server().binaries().tool("pg_controldata").toString(), cluster.dataDirectory().toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("Latest checkpoint location:\\s+(\\S+)").matcher(out);
        assertThat(m.find()).as(out).isTrue();
        return Lsn.parse(m.group(1));
    }

    /** The one walsender's process id and whether its connection uses TLS: "1234|true". */
    private static String walsender(PostgresCluster cluster) throws Exception {
        try (Connection c = cluster.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select r.pid, coalesce(s.ssl, false) from pg_stat_replication r left join pg_stat_ssl s using (pid)")) {
            assertThat(rs.next()).as("a walsender").isTrue();
            return rs.getInt(1) + "|" + rs.getBoolean(2);
        }
    }

    private static boolean awaitDurable(WalStreamer streamer, Lsn lsn, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
        while (System.nanoTime() < deadline) {
            WalStreamStatus s = streamer.status();
            if (s != null && s.chain() != null && Lsn.parse(s.durableLsn()).compareTo(lsn) >= 0) {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
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
        return recording(archived, null);
    }

    /** Notes archived segments, and conflicts in conflicts (null: a conflict fails the test). */
    private static WalListener recording(List<String> archived, List<String> conflicts) {
        return new WalListener() {
            @Override public void segmentArchived(String chain, WalSegment segment, long bytes) {
                archived.add(segment.name());
            }
            @Override public void durable(String chain, int timeline, Lsn lsn, Instant serverTime) { }
            @Override public void timelineSwitched(String chain, int from, int to, Lsn switchPoint, String historyKey) { }
            @Override public void conflict(String chain, WalSegment segment, String existing, String fresh, String keptAs) {
                if (conflicts == null) {
                    throw new AssertionError("unexpected conflict on " + segment);
                }
                conflicts.add(segment.name());
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
