package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupArchive;
import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BaseBackupRunner;
import dev.tidemark.engine.postgres.ConfigFiles;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A server whose configuration lives outside its data directory (config_file, hba_file, ident_file and included files
 * elsewhere, as Debian and Ubuntu lay clusters out): its base backup keeps those files, a restore beside makes them the
 * copy's own (the source untouched), a restore in place starts the server with its own files as it is normally started,
 * and a failed one starts the original again. Once with the stand-in (-c config_file=), once with a real Debian cluster
 * where postgresql-common is installed.
 */
class ExternalConfigRestoreTest {

    @Test
    void aClusterStartedWithConfigFileElsewhereIsRestoredBesideAndInPlace() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-extconf-");
        ServerUser.detect().ownOne(tmp);
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.startWithExternalConfig(), TestRepositories.file(tmp.resolve("repo")),
                "extconf")) {
            Path etc = db.cluster.configDirectory();
            exercise(db, tmp, List.of(etc.resolve("postgresql.conf"), etc.resolve("pg_hba.conf"), etc.resolve("pg_ident.conf"),
                    etc.resolve("conf.d/10-memory.conf"), etc.resolve("tuning.conf")), etc.resolve("postgresql.conf"), true);
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    @Test
    void aDebianClusterIsRestoredBesideAndInPlace() throws Exception {
        Assumptions.assumeTrue(PostgresCluster.debianToolsInstalled(),
                "Debian's postgresql-common (pg_createcluster, pg_ctlcluster) is not installed here: no real Debian cluster to test");
        Path tmp = Files.createTempDirectory("tidemark-debian-");
        ServerUser.detect().ownOne(tmp);
        String name = "tidemark_test_" + Long.toHexString(System.nanoTime());
        PostgresCluster cluster = PostgresCluster.startDebian(name);
        Path data = cluster.dataDirectory();
        try (StreamedCluster db = new StreamedCluster(cluster, TestRepositories.file(tmp.resolve("repo")), "debian")) {
            Path etc = Path.of(showOn(cluster, "config_file")).getParent();
            assertThat(etc.toString()).startsWith("/etc/postgresql/");
            exercise(db, tmp, List.of(etc.resolve("postgresql.conf"), etc.resolve("pg_hba.conf"), etc.resolve("pg_ident.conf"),
                    etc.resolve("conf.d/tidemark-test.conf")), etc.resolve("postgresql.conf"), false);
            String status = cluster.server().run(List.of("pg_lsclusters", "-h"), Duration.ofSeconds(30), "pg_lsclusters");
            assertThat(status.lines().filter(l -> l.contains(" " + name + " ")))
                    .as("the cluster runs as postgresql-common started it, after the in-place restore").singleElement()
                    .asString().contains("online");
        } finally {
            try (Stream<Path> siblings = Files.list(data.getParent())) {
                for (Path p : siblings.filter(p -> p.getFileName().toString().startsWith(name + ".tidemark")).toList()) {
                    PostgresCluster.deleteTree(p);
                    Files.deleteIfExists(p);
                }
            }
            PostgresCluster.deleteTree(tmp);
        }
    }

    /**
     * Backup, then: the download holds the external files; a restore beside to a time is exact with its own configuration
     * and leaves the source's files alone; a failed in-place restore (when failInPlace: the stand-in) starts the original
     * again; an in-place restore to the same time is exact, running with the server's own configuration file (a Debian
     * cluster restarted by pg_ctlcluster).
     */
    private static void exercise(StreamedCluster db, Path tmp, List<Path> external, Path configFile, boolean failInPlace)
            throws Exception {
        Repository repo = db.repository;
        String id = db.databaseId;
        db.startStreaming(WalListener.NONE);
        db.cluster.execute("create table t(id int primary key, note text)",
                "insert into t select g, 'before the backup' from generate_series(1, 1000) g");
        BaseBackupRunner.Result backup = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2))
                .run(id, "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
        BackupManifest m = backup.manifest();
        assertThat(m.formatVersion()).isGreaterThanOrEqualTo(BackupManifest.FORMAT_WITH_EXTERNAL_CONFIG);
        assertThat(m.configuration().configFile()).isEqualTo(configFile.toString());
        assertThat(m.configurationOutside()).as("a download says its archive does not start as it is").isTrue();
        assertThat(m.configuration().external()).containsAll(external.stream().map(Path::toString).toList());
        assertThat(m.files()).extracting(BackupManifest.FileEntry::path)
                .containsAll(external.stream().map(p -> BackupManifest.externalPath(p.toString())).toList());

        db.cluster.execute("insert into t select g, 'after the backup' from generate_series(1001, 2000) g");
        Map<String, String> atTarget = TableChecksums.of(db.cluster);
        Instant target = db.cluster.serverNow();
        Thread.sleep(1100);
        db.cluster.execute("insert into t values (2001, 'after the target')");
        db.awaitDurableTime(db.cluster.serverNow(), Duration.ofSeconds(60));

        // the download: the external files under the documented path, as they were
        Map<String, byte[]> tar = tarFiles(repo, m);
        for (Path file : external) {
            assertThat(tar.get(BackupManifest.externalPath(file.toString()))).as("%s in the downloaded tar", file)
                    .isEqualTo(Files.readAllBytes(file));
        }

        Map<Path, String> sourceFiles = contents(external);
        String pidFile = showOn(db.cluster, "external_pid_file");
        String pidBefore = pidFile.isEmpty() ? "" : Files.readString(Path.of(pidFile));
        PgServer.Factory servers = PgServer.factory(db.cluster.server().binaries(), ServerUser.detect());
        RestoreRunner runner = new RestoreRunner(repo, servers);

        // beside: exact, with its own configuration in its data directory; the source's files untouched
        Path beside = tmp.resolve("beside");
        int port = PostgresCluster.freePort();
        runner.run(request(id, "beside", backup, target, beside, port, false));
        PostgresCluster copy = PostgresCluster.attach(servers.at(beside), port);
        try (Connection c = copy.connect()) {
            assertThat(TableChecksums.of(c)).isEqualTo(atTarget);
            assertThat(show(c, "config_file")).isEqualTo(beside.resolve("postgresql.conf").toString());
            assertThat(show(c, "hba_file")).isEqualTo(beside.resolve("pg_hba.conf").toString());
            assertThat(show(c, "ident_file")).isEqualTo(beside.resolve("pg_ident.conf").toString());
            assertThat(show(c, "data_directory")).isEqualTo(beside.toString());
            assertThat(show(c, "external_pid_file")).isEmpty();
            assertThat(show(c, "work_mem")).as("from an included directory").isEqualTo("7MB");
            if (external.stream().anyMatch(p -> p.endsWith("tuning.conf"))) {
                assertThat(show(c, "maintenance_work_mem")).as("from an included file").isEqualTo("77MB");
            }
        } finally {
            copy.stopServer();
        }
        List<String> copyConf = Files.readAllLines(beside.resolve("postgresql.conf"));
        assertThat(ConfigFiles.settings(copyConf)).extracting(ConfigFiles.Setting::name)
                .doesNotContain("data_directory", "external_pid_file", "hba_file", "ident_file");
        assertThat(contents(external)).as("the source's configuration files").containsExactlyInAnyOrderEntriesOf(sourceFiles);
        assertThat(db.cluster.server().isRunning()).isTrue();
        if (!pidFile.isEmpty()) {
            assertThat(Files.readString(Path.of(pidFile))).as("the source's PID file").isEqualTo(pidBefore);
        }

        db.stopStreaming();
        if (failInPlace) {
            // a damaged backup: the in-place restore fails, the original comes back and runs again with its own configuration
            Path copyRoot = tmp.resolve("repo-damaged");
            Repository damaged = TestRepositories.copyOf(repo, tmp.resolve("repo"), copyRoot);
            TestRepositories.flipByte(copyRoot, m.objects().get(0).key(), 200);
            db.cluster.stopServer();
            RestoreRunner failing = new RestoreRunner(damaged, servers);
            assertThatThrownBy(() -> failing.run(request(id, "damaged", backup, target,
                    db.cluster.dataDirectory(), db.cluster.port(), true))).hasMessageContaining(m.objects().get(0).key());
            assertThat(db.cluster.server().isRunning()).as("the original, put back, is running again").isTrue();
            assertThat(failing.undone()).as("for the failure's message").hasValueSatisfying(u -> assertThat(u)
                    .startsWith("the original data directory is back at " + db.cluster.dataDirectory() + " and running again ("));
            try (Connection c = db.cluster.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select count(*) from t")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(2001);
                assertThat(show(c, "config_file")).isEqualTo(configFile.toString());
            }
        }

        // in place: exact, and running with the server's own configuration where it was
        db.cluster.stopServer();
        RestoreRunner inPlaceRunner = new RestoreRunner(repo, servers);
        List<String> phases = new CopyOnWriteArrayList<>();
        Thread sampler = Thread.ofVirtual().start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                String phase = inPlaceRunner.progress().phase();
                if (phases.isEmpty() || !phases.getLast().equals(phase)) {
                    phases.add(phase);
                }
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        RestoreRunner.Result inPlace;
        try {
            inPlace = inPlaceRunner.run(request(id, "in-place", backup, target, db.cluster.dataDirectory(), db.cluster.port(), true));
        } finally {
            sampler.interrupt();
            sampler.join();
        }
        if (!phases.getLast().equals(inPlaceRunner.progress().phase())) {
            phases.add(inPlaceRunner.progress().phase());
        }
        assertThat(inPlace.movedAside()).isNotNull();
        assertThat(inPlace.summary()).contains("the last transaction replayed committed at ")
                .contains("the old data directory is kept at " + inPlace.movedAside());
        // the phases in the order they happen (a short one may pass unseen between two samples)
        List<String> order = List.of("queued", "downloading", "starting PostgreSQL", "replaying WAL", "recovering", "done");
        assertThat(phases).as("phases seen: %s", phases).allMatch(order::contains).contains("done")
                .isSortedAccordingTo(Comparator.comparingInt(order::indexOf));
        assertThat(db.cluster.server().isRunning()).isTrue();
        try (Connection c = db.cluster.connect()) {
            assertThat(TableChecksums.of(c)).isEqualTo(atTarget);
            assertThat(show(c, "config_file")).isEqualTo(configFile.toString());
            assertThat(show(c, "work_mem")).isEqualTo("7MB");
            // a Debian cluster is restarted by pg_ctlcluster; the stand-in, started by pg_ctl as it normally is, reloads its
            // configuration instead: either way the recovery's settings (removed from postgresql.auto.conf) are gone
            assertThat(show(c, "restore_command")).as("the recovery's settings are gone").isEmpty();
            assertThat(show(c, "recovery_prefetch")).as("the server's own").isEqualTo("try");
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select count(*) from pg_settings where pending_restart")) {
                rs.next();
                assertThat(rs.getInt(1)).as("settings pending a restart").isZero();
            }
        }
        assertThat(inPlace.summary()).contains(failInPlace ? "running on, its own configuration reloaded (no restart needed)"
                : "restarted by pg_ctlcluster");
        assertThat(db.cluster.dataDirectory().resolve(BackupManifest.EXTERNAL_CONFIG)).doesNotExist();
        assertThat(contents(external)).as("the server's own configuration files, where they were")
                .containsExactlyInAnyOrderEntriesOf(sourceFiles);
    }

    private static RestoreRunner.Request request(String id, String name, BaseBackupRunner.Result backup, Instant target, Path dir,
                                                 int port, boolean inPlace) {
        return new RestoreRunner.Request(id, "r-" + name, "b1", backup.manifestSha256(), Optional.of(target), dir, port, inPlace,
                "postgres", 2, Duration.ofMinutes(3));
    }

    private static Map<String, byte[]> tarFiles(Repository repo, BackupManifest m) throws Exception {
        BackupArchive archive = new BackupArchive(repo);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        archive.write(m, archive.wal(m).orElseThrow(), out, n -> { });
        Map<String, byte[]> files = new TreeMap<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(out.toByteArray()))) {
            for (TarArchiveEntry e; (e = in.getNextEntry()) != null; ) {
                if (e.isFile() && BackupManifest.isExternal(e.getName())) {
                    files.put(e.getName(), in.readAllBytes());
                }
            }
        }
        return files;
    }

    private static Map<Path, String> contents(List<Path> files) throws Exception {
        Map<Path, String> all = new TreeMap<>();
        for (Path f : files) {
            all.put(f, Files.readString(f) + " @" + Files.getLastModifiedTime(f));
        }
        return all;
    }

    private static String showOn(PostgresCluster cluster, String setting) throws Exception {
        try (Connection c = cluster.connect()) {
            return show(c, setting);
        }
    }

    private static String show(Connection c, String setting) throws Exception {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select current_setting('" + setting + "')")) {
            rs.next();
            return rs.getString(1);
        }
    }
}
