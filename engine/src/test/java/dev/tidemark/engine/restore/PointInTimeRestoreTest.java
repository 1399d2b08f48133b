package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Base backup under load, then restores to several moments of the window, each compared table by table with the
 * content the source had at that moment.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PointInTimeRestoreTest {
    private Path tmp;
    private Instant quietEnd;
    private StreamedCluster db;
    private Repository repo;
    private BaseBackupRunner.Result backup;
    private final List<Instant> times = new ArrayList<>();
    private final List<Map<String, String>> contents = new ArrayList<>();

    @BeforeAll
    void backUpUnderLoadAndRecordMoments() throws Exception {
        tmp = Files.createTempDirectory("tidemark-pitr-");
        ServerUser.detect().ownOne(tmp);
        repo = TestRepositories.file(tmp.resolve("repo"));
        db = new StreamedCluster(PostgresCluster.start(), repo, "pitr");
        db.startStreaming(WalListener.NONE);
        db.cluster.pgbench("postgres", "-i", "-s", "2", "-q");
        db.cluster.execute("create table marker(id serial primary key, note text, at timestamptz default clock_timestamp())");

        Thread load = new Thread(() -> {
            try {
                db.cluster.pgbench("postgres", "-c", "2", "-T", "3", "-n");
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        load.start();
        backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                .run("pitr", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
        load.join();

        record("right after the backup's consistency point");
        for (int i = 0; i < 3; i++) {
            db.cluster.pgbench("postgres", "-c", "2", "-T", "2", "-n");
            if (i == 1) {
                db.cluster.execute("select pg_switch_wal()"); // the next moment lies across a segment boundary
            }
            record("moment " + i);
        }
        db.cluster.pgbench("postgres", "-c", "2", "-t", "50", "-n");
        db.cluster.execute("insert into marker(note) values ('last')");
        contents.add(snapshot());
        quietEnd = now();
        db.awaitDurableTime(quietEnd, Duration.ofSeconds(60));
    }

    @AfterAll
    void cleanUp() {
        if (db != null) {
            db.close();
        }
        PostgresCluster.deleteTree(tmp);
    }

    @Test
    void manifestChecksumsMatchTheRepositoryObjects() throws Exception {
        BackupManifest m = backup.manifest();
        assertThat(m.objects()).isNotEmpty();
        // every file's (or piece's) checksum against its bytes in its object, and each object read to its end
        for (BackupManifest.BundleObject o : m.objects()) {
            java.util.List<BackupManifest.FileEntry> inside = m.files().stream().filter(e -> e.object() == o.number())
                    .sorted(java.util.Comparator.comparingLong(BackupManifest.FileEntry::offset)).toList();
            assertThat(inside).isNotEmpty();
            try (InputStream in = repo.openDecoded(o.key())) {
                long position = 0;
                for (BackupManifest.FileEntry e : inside) {
                    in.skipNBytes(e.offset() - position);
                    java.security.MessageDigest sha = dev.tidemark.storage.codec.Codec.sha256();
                    sha.update(in.readNBytes((int) e.size()));
                    assertThat(java.util.HexFormat.of().formatHex(sha.digest())).as(e.path()).isEqualTo(e.sha256());
                    position = e.offset() + e.size();
                }
                assertThat(position + in.transferTo(java.io.OutputStream.nullOutputStream())).isEqualTo(o.plainBytes());
            }
        }
        assertThat(m.badPages()).isEmpty();
        assertThat(m.dataChecksums()).isTrue();
        assertThat(m.files()).extracting(BackupManifest.FileEntry::path).contains("global/pg_control", "PG_VERSION")
                .noneMatch(p -> p.startsWith("pg_wal/0") || p.equals("postmaster.pid"));
    }

    @Test
    void restoresEachMomentExactly() throws Exception {
        for (int i = 0; i < times.size(); i++) {
            Map<String, String> restored = restore(Optional.of(times.get(i)), "t" + i);
            assertThat(restored).as("content at %s (%s)", times.get(i), i).isEqualTo(contents.get(i));
        }
    }

    @Test
    void aTargetAfterTheLastCommitRestoresTheStateAtIt() throws Exception {
        // no commit follows the target in the archive: PostgreSQL alone would refuse ("recovery ended before target")
        Map<String, String> restored = restore(Optional.of(quietEnd), "quiet");
        assertThat(restored).isEqualTo(contents.get(contents.size() - 1));
    }

    @Test
    void restoresLatestIncludingThePartialSegment() throws Exception {
        // a target whose name the shell and PostgreSQL's restore_command would misread unless quoted
        Map<String, String> restored = restore(Optional.empty(), "latest ü 'q' %p");
        assertThat(restored).isEqualTo(contents.get(contents.size() - 1));
    }

    /** Two restores at once into a directory and one inside it: one runs, the other is refused and touches nothing of it. */
    @Test
    void restoresIntoOverlappingDirectoriesAtOnceRunOneAtATime() throws Exception {
        Path outer = tmp.resolve("nested");
        Path inner = outer.resolve("sub");
        int outerPort = PostgresCluster.freePort();
        int innerPort = PostgresCluster.freePort();
        var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            var first = pool.submit(() -> runner().run(request(outer, outerPort, Optional.of(times.get(0)), "outer")));
            var second = pool.submit(() -> runner().run(request(inner, innerPort, Optional.of(times.get(0)), "inner")));
            List<Object> outcomes = new ArrayList<>();
            for (var f : List.of(first, second)) {
                try {
                    outcomes.add(f.get());
                } catch (java.util.concurrent.ExecutionException e) {
                    outcomes.add(e.getCause());
                }
            }
            assertThat(outcomes).filteredOn(o -> o instanceof RestoreRunner.Result).as("%s", outcomes).hasSize(1);
            assertThat(outcomes).filteredOn(o -> o instanceof RestoreRejectedException).as("%s", outcomes).hasSize(1)
                    .allSatisfy(o -> assertThat(((Exception) o).getMessage()).containsAnyOf("overlaps", "lies inside"));
            RestoreRunner.Result done = (RestoreRunner.Result) outcomes.stream().filter(o -> o instanceof RestoreRunner.Result)
                    .findFirst().orElseThrow();
            PostgresCluster restored = PostgresCluster.attach(
                    PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()).at(done.dataDirectory()), done.port());
            try (Connection c = restored.connect()) {
                assertThat(TableChecksums.of(c)).as("the restore that ran is whole").isEqualTo(contents.get(0));
            } finally {
                restored.stopServer();
            }
        } finally {
            pool.shutdownNow();
            PostgresCluster.deleteTree(outer);
        }
    }

    @Test
    void theRestoredClusterKeepsItsPortButNotTheRecoverySettingsAcrossARestart() throws Exception {
        Path target = tmp.resolve("restore-restart");
        int port = PostgresCluster.freePort();
        runner().run(request(target, port, Optional.of(times.get(1)), "restart"));
        PgServer server = PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()).at(target);
        PostgresCluster restored = PostgresCluster.attach(server, port);
        try {
            String auto = Files.readString(target.resolve("postgresql.auto.conf"));
            assertThat(auto).contains("port = " + port).doesNotContain("restore_command").doesNotContain("recovery_target")
                    .as("a copy beside must not archive into its source's archive").contains("archive_mode = off")
                    .doesNotContain("recovery_prefetch");
            boolean hasPrefetchSetting = false;
            try (Connection c = restored.connect(); var st = c.createStatement()) {
                if (c.getMetaData().getDatabaseMajorVersion() >= 15) {
                    // the settings the recovery ran with are still loaded: it replayed without prefetching (RecoverySettings)
                    var rs = st.executeQuery("show recovery_prefetch");
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("off");
                    hasPrefetchSetting = true;
                }
            }
            server.stop();
            server.start(tmp.resolve("restart.log"), Duration.ofSeconds(60));
            try (Connection c = restored.connect(); var st = c.createStatement()) {
                assertThat(TableChecksums.of(c)).isEqualTo(contents.get(1));
                if (hasPrefetchSetting) {
                    var rs = st.executeQuery("show recovery_prefetch");
                    rs.next();
                    assertThat(rs.getString(1)).as("the server's own setting again after a restart").isEqualTo("try");
                }
            }
        } finally {
            restored.stopServer();
            PostgresCluster.deleteTree(target);
        }
    }

    @Test
    void rejectsANonEmptyTargetOrABusyPortBeforeWritingAnything() throws Exception {
        Path target = Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(target.resolve("keep.txt"), "mine");
        RestoreRunner runner = runner();
        assertThatThrownBy(() -> runner.run(request(target, PostgresCluster.freePort(), Optional.empty(), "busy")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("is not empty");
        assertThat(Files.readString(target.resolve("keep.txt"))).isEqualTo("mine");

        Path fresh = tmp.resolve("fresh");
        assertThatThrownBy(() -> runner.run(request(fresh, db.cluster.port(), Optional.empty(), "port")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("in use");
        assertThat(fresh).doesNotExist();

        assertThatThrownBy(() -> runner.run(request(fresh, 80, Optional.empty(), "privileged")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("privileged port");
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        assertThatThrownBy(() -> runner.run(request(file.resolve("sub"), PostgresCluster.freePort(), Optional.empty(), "under-a-file")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("is a file, not a directory");
        assertThat(fresh).doesNotExist();

        // a path pg_ctl's shell would act on: refused before anything runs or is written
        Path marker = tmp.resolve("pwned");
        for (String evil : new String[]{"q$(touch " + marker + ")x", "w`touch " + marker + "`x", "n\nl", "b\\s", "d\"q"}) {
            Path bad = tmp.resolve(evil);
            assertThatThrownBy(() -> runner.run(request(bad, PostgresCluster.freePort(), Optional.empty(), "evil")))
                    .as(evil).isInstanceOf(RestoreRejectedException.class).hasMessageContaining("would hand to a shell");
            assertThat(bad).doesNotExist();
        }
        assertThat(marker).doesNotExist();

        Path inside = db.cluster.dataDirectory().resolve("restore-here");
        assertThatThrownBy(() -> runner.run(request(inside, PostgresCluster.freePort(), Optional.empty(), "inside")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("lies inside the PostgreSQL data directory");
        assertThat(inside).doesNotExist();
        assertThatThrownBy(() -> runner.run(request(tmp.resolve("x.tidemark-wal"), PostgresCluster.freePort(), Optional.empty(), "spoolname")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("restores use for their own files");

        // another restore is writing into the same new directory (its spool claims it): refused, nothing of it touched
        Path claimed = tmp.resolve("claimed");
        Path spool = Files.createDirectories(tmp.resolve("claimed.tidemark-wal"));
        Files.writeString(spool.resolve("000000010000000000000001"), "the other restore's");
        assertThatThrownBy(() -> runner.run(request(claimed, PostgresCluster.freePort(), Optional.empty(), "claimed")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("another restore is writing into");
        assertThat(claimed).doesNotExist();
        assertThat(spool.resolve("000000010000000000000001")).hasContent("the other restore's");
    }

    @Test
    void takesOverNoDirectoryOfAnotherUserNorALinkAndKeepsToTheRestoreRoots() throws Exception {
        RestoreRunner runner = runner();
        String serverUser = ServerUser.detect().name();
        if (!serverUser.equals(System.getProperty("user.name"))) { // as root: an empty directory root owns is not the server's
            Path rootOwned = Files.createDirectories(tmp.resolve("root-owned"));
            Files.setPosixFilePermissions(rootOwned, PosixFilePermissions.fromString("rwxr-xr-x"));
            assertThatThrownBy(() -> runner.run(request(rootOwned, PostgresCluster.freePort(), Optional.empty(), "root-owned")))
                    .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("is owned by root")
                    .hasMessageContaining("chown " + serverUser);
            assertThat(Files.getOwner(rootOwned).getName()).isEqualTo("root");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(rootOwned))).isEqualTo("rwxr-xr-x");
            assertThat(rootOwned).isEmptyDirectory();
        }
        Path real = Files.createDirectories(tmp.resolve("link-target"));
        ServerUser.detect().ownOne(real);
        Path link = Files.createSymbolicLink(tmp.resolve("link"), real);
        assertThatThrownBy(() -> runner.run(request(link, PostgresCluster.freePort(), Optional.empty(), "link")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("is a symbolic link").hasMessageContaining(real.toString());
        assertThat(real).isEmptyDirectory();

        Path roots = Files.createDirectories(tmp.resolve("roots"));
        RestoreRunner confined = new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()),
                List.of(roots));
        Path outside = tmp.resolve("outside-roots");
        assertThatThrownBy(() -> confined.check(request(outside, PostgresCluster.freePort(), Optional.empty(), "outside")))
                .isInstanceOf(RestoreRejectedException.class).hasMessageContaining("not under a configured restore root");
        Files.createSymbolicLink(roots.resolve("escape"), tmp);
        assertThatThrownBy(() -> confined.check(request(roots.resolve("escape/copy"), PostgresCluster.freePort(), Optional.empty(), "esc")))
                .as("a link under the root leading out of it").isInstanceOf(RestoreRejectedException.class)
                .hasMessageContaining("really " + tmp.toRealPath().resolve("copy"));
        assertThat(confined.check(request(roots.resolve("copy"), PostgresCluster.freePort(), Optional.empty(), "inside"))).isNotNull();
        assertThat(outside).doesNotExist();
    }

    @Test
    void aCorruptedObjectFailsTheRestoreAndLeavesNoCluster() throws Exception {
        Path copyRoot = tmp.resolve("repo-copy");
        Repository damaged = TestRepositories.copyOf(repo, tmp.resolve("repo"), copyRoot);
        BackupManifest.BundleObject victim = backup.manifest().objects().get(0);
        TestRepositories.flipByte(copyRoot, victim.key(), 200);
        Path target = tmp.resolve("damaged");
        RestoreRunner runner = new RestoreRunner(damaged, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
        assertThatThrownBy(() -> runner.run(request(target, PostgresCluster.freePort(), Optional.empty(), "damaged")))
                .hasMessageContaining(victim.key());
        assertThat(target).doesNotExist();
        // an empty directory of the server's user, given as the target: emptied again, not removed
        Path given = Files.createDirectories(tmp.resolve("given"));
        ServerUser.detect().ownOne(given);
        assertThatThrownBy(() -> runner.run(request(given, PostgresCluster.freePort(), Optional.empty(), "given")))
                .hasMessageContaining(victim.key());
        assertThat(given).isEmptyDirectory();
    }

    @Test
    void aCorruptedWalSegmentAbortsTheRecoveryInsteadOfEndingItEarly() throws Exception {
        Path copyRoot = tmp.resolve("repo-copy-wal");
        Repository damaged = TestRepositories.copyOf(repo, tmp.resolve("repo"), copyRoot);
        String victim = newestCompleteSegmentAfterTheBackup(); // a restore to the latest moment needs it, and WAL follows it
        TestRepositories.flipByte(copyRoot, victim, 200);
        Path target = tmp.resolve("damaged-wal");
        RestoreRunner runner = new RestoreRunner(damaged, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
        assertThatThrownBy(() -> runner.run(request(target, PostgresCluster.freePort(), Optional.empty(), "damaged-wal")))
                .hasMessageContaining("fetching WAL for the recovery failed").hasMessageContaining(victim);
        assertThat(target).as("no startable cluster is left behind").doesNotExist();
    }

    @Test
    void aDamagedSegmentBeyondTheTargetDoesNotFailARestoreThatStoppedBeforeIt() throws Exception {
        Path copyRoot = tmp.resolve("repo-copy-beyond");
        Repository damaged = TestRepositories.copyOf(repo, tmp.resolve("repo"), copyRoot);
        String victim;
        try (var all = repo.store().list(repo.layout().walPrefix("pitr", backup.manifest().chain()))) {
            // the newest WAL object (the partial segment): well after the first moment, which the restore stops at
            victim = all.map(o -> o.key()).filter(k -> k.substring(k.lastIndexOf('/') + 1).matches("[0-9A-F]{24}.*"))
                    .max(String::compareTo).orElseThrow();
        }
        TestRepositories.flipByte(copyRoot, victim, 200);
        Path target = tmp.resolve("beyond");
        int port = PostgresCluster.freePort();
        RestoreRunner runner = new RestoreRunner(damaged, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
        runner.run(request(target, port, Optional.of(times.get(0)), "beyond"));
        PostgresCluster restored = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()).at(target), port);
        try (Connection c = restored.connect()) {
            assertThat(TableChecksums.of(c)).isEqualTo(contents.get(0));
        } finally {
            restored.stopServer();
            PostgresCluster.deleteTree(target);
        }
    }

    @Test
    void aSegmentMissingFromTheMiddleFailsTheRestoreInsteadOfEndingItShort() throws Exception {
        Path copyRoot = tmp.resolve("repo-copy-hole");
        Repository holed = TestRepositories.copyOf(repo, tmp.resolve("repo"), copyRoot);
        String victim = newestCompleteSegmentAfterTheBackup(); // later WAL (the partial segment) follows it
        holed.store().delete(victim);
        String name = victim.substring(victim.lastIndexOf('/') + 1);
        RestoreRunner runner = new RestoreRunner(holed, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
        for (Optional<Instant> time : List.of(Optional.of(quietEnd), Optional.<Instant>empty())) {
            Path target = tmp.resolve("holed-" + time.isPresent());
            assertThatThrownBy(() -> runner.run(request(target, PostgresCluster.freePort(), time, "holed-" + time.isPresent())))
                    .as("restore to %s", time.map(Instant::toString).orElse("the latest moment"))
                    .hasMessageContaining("WAL segment " + name + " is missing from the repository");
            assertThat(target).as("no startable cluster is left behind").doesNotExist();
        }
    }

    /**
     * A missing segment in the middle of the load, where records cross from the segment before into it (not after a
     * switch): the restore fails at it instead of stopping at the last commit before it and calling that the target.
     */
    @Test
    void aSegmentMissingWhereARecordCrossesIntoItFailsTheRestore() throws Exception {
        Path copyRoot = tmp.resolve("repo-copy-crossed");
        Repository holed = TestRepositories.copyOf(repo, tmp.resolve("repo"), copyRoot);
        BackupManifest m = backup.manifest();
        dev.tidemark.engine.postgres.WalSegment after = dev.tidemark.engine.postgres.WalSegment.containing(1,
                dev.tidemark.engine.postgres.Lsn.parse(m.stopLsn()), m.walSegmentSize()).next();
        String victim = repo.layout().walSegment("pitr", m.chain(), after.name());
        assertThat(holed.store().stat(victim)).as("the segment after the backup's end is archived whole").isPresent();
        holed.store().delete(victim);
        Path target = tmp.resolve("crossed");
        RestoreRunner runner = new RestoreRunner(holed, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
        assertThatThrownBy(() -> runner.run(request(target, PostgresCluster.freePort(), Optional.of(quietEnd), "crossed")))
                .hasMessageContaining("WAL segment " + after.name() + " is missing from the repository");
        assertThat(target).as("no startable cluster is left behind").doesNotExist();
    }

    /** The key of the newest complete WAL segment after the backup's start segment. */
    private String newestCompleteSegmentAfterTheBackup() throws Exception {
        BackupManifest m = backup.manifest();
        long start = dev.tidemark.engine.postgres.WalSegment.containing(1, dev.tidemark.engine.postgres.Lsn.parse(m.startLsn()),
                m.walSegmentSize()).number();
        try (var all = repo.store().list(repo.layout().walPrefix("pitr", m.chain()))) {
            return all.map(o -> o.key()).filter(k -> k.substring(k.lastIndexOf('/') + 1).length() == 24)
                    .filter(k -> dev.tidemark.engine.postgres.WalSegment.parse(k.substring(k.lastIndexOf('/') + 1), m.walSegmentSize())
                            .number() > start)
                    .max(String::compareTo).orElseThrow();
        }
    }

    private Map<String, String> restore(Optional<Instant> time, String name) throws Exception {
        Path target = tmp.resolve("restore-" + name);
        int port = PostgresCluster.freePort();
        RestoreRunner.Result result = runner().run(request(target, port, time, name));
        // where the time went; the WAL is read beside the replay (PostgreSQL 13 on: for a time target too, gated)
        assertThat(result.summary()).contains("phases: checks ").contains("PostgreSQL start-up until consistent ")
                .contains("WAL read beside the replay ").contains("replay and promotion ");
        PostgresCluster restored = PostgresCluster.attach(
                PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()).at(target), port);
        try (Connection c = restored.connect()) {
            assertThat(result.timeline()).isGreaterThan(1);
            return TableChecksums.of(c);
        } finally {
            restored.stopServer();
            PostgresCluster.deleteTree(target);
        }
    }

    private RestoreRunner runner() {
        return new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), ServerUser.detect()));
    }

    private RestoreRunner.Request request(Path target, int port, Optional<Instant> time, String id) {
        return new RestoreRunner.Request("pitr", "r-" + id, "b1", backup.manifestSha256(), time, target, port, false, "postgres", 2,
                Duration.ofMinutes(3));
    }

    private void record(String what) throws Exception {
        Instant t = now();
        db.cluster.execute("insert into marker(note) values ('" + what.replace("'", "''") + "')");
        Thread.sleep(20);
        Instant after = now();
        times.add(after);
        contents.add(snapshot());
        Thread.sleep(1100); // the next write is at least a second later: the moment is unambiguous
        assertThat(t).isBefore(after);
    }

    private Map<String, String> snapshot() throws Exception {
        try (Connection c = db.cluster.connect()) {
            return TableChecksums.of(c);
        }
    }

    private Instant now() throws Exception {
        try (Connection c = db.cluster.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select clock_timestamp()")) {
            rs.next();
            return rs.getTimestamp(1).toInstant();
        }
    }
}
