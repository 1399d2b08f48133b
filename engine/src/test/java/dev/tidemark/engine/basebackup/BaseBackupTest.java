package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.restore.RestoreRunner;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/** A base backup of a cluster with a tablespace, many small files, a file in pieces and a damaged page; restored beside it. */
class BaseBackupTest {

    @Test
    void tablespacesManySmallFilesAndABadPage() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-bb-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        // pg_wal on a directory of its own (initdb --waldir), as on many production servers
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(true, false), repo, "bb")) {
            assertThat(Files.isSymbolicLink(db.cluster.dataDirectory().resolve("pg_wal"))).isTrue();
            Path space = Files.createDirectories(db.cluster.root().resolve("space"));
            user.own(space);
            db.cluster.execute("create tablespace fast location '" + space + "'",
                    "create table far(id int primary key, v text) tablespace fast",
                    "insert into far select g, md5(g::text) from generate_series(1, 5000) g",
                    "create table big(id int primary key, v text)",
                    "insert into big select g, md5(g::text) || md5((g * 7)::text) from generate_series(1, 120000) g",
                    "do $$ begin for i in 1..600 loop execute format('create table small_%s(x int)', i); end loop; end $$",
                    "create table victim(id int, v text)",
                    "insert into victim select g, repeat('x', 200) from generate_series(1, 100) g",
                    "checkpoint");
            String victimPath;
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select pg_relation_filepath('victim')")) {
                r.next();
                victimPath = r.getString(1);
            }
            db.cluster.stopServer();
            try (RandomAccessFile f = new RandomAccessFile(db.cluster.dataDirectory().resolve(victimPath).toFile(), "rw")) {
                f.seek(5000);
                int b = f.read();
                f.seek(5000);
                f.write(b ^ 0xff);
            }
            db.cluster.startServer();
            db.startStreaming(WalListener.NONE);
            // beside the server's version directory in the tablespace's location: not the cluster's, not backed up
            Files.createDirectories(space.resolve("another-cluster"));
            Files.writeString(space.resolve("another-cluster/PG_VERSION"), "15\n");
            Files.writeString(space.resolve("stray.txt"), "not PostgreSQL's");

            BaseBackupRunner runner = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2)
                    .withPieceBytes(1 << 20));
            // a copy of the running cluster's directory, postmaster.pid and all: refused, nothing listed
            Path copy = tmp.resolve("live-copy");
            Process cp = new ProcessBuilder("cp", "-a", db.cluster.dataDirectory().toString(), copy.toString()).redirectErrorStream(true)
                    .start();
            String copied = new String(cp.getInputStream().readAllBytes());
            // a file the running server removes during the copy (a statistics or WAL file) makes cp say so: the copy stands
            assertThat(cp.waitFor() == 0 || copied.contains("No such file")).as(copied).isTrue();
            assertThat(copy.resolve("postmaster.pid")).exists();
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> runner.run("bb", "b0", db.connections(), copy, db.durableWal()))
                    .hasMessageContaining("is not the server's live data directory");
            PostgresCluster.deleteTree(copy);
            BaseBackupRunner.Result result = runner.run("bb", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            BackupManifest m = result.manifest();

            assertThat(m.badPages()).as("the damaged page is reported, and only it (pieces count their blocks from their place)")
                    .singleElement().satisfies(p -> assertThat(p.path()).isEqualTo(victimPath));
            String bigPath;
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select pg_relation_filepath('big')")) {
                r.next();
                bigPath = r.getString(1);
            }
            assertThat(m.files()).as("a file over the piece size is kept in 1 MiB pieces, each its own object")
                    .filteredOn(e -> e.path().equals(bigPath)).hasSizeGreaterThan(4)
                    .allSatisfy(e -> assertThat(e.fileOffset() % (1 << 20)).isZero())
                    .extracting(BackupManifest.FileEntry::object).doesNotHaveDuplicates();
            assertThat(m.tablespaces()).hasSize(1);
            assertThat(m.files()).extracting(BackupManifest.FileEntry::path).as("only the version directory of the tablespace")
                    .noneMatch(p -> p.contains("another-cluster") || p.contains("stray.txt"))
                    .anyMatch(p -> p.matches("pg_tblspc/\\d+/PG_\\d+_\\d+/.*"));
            long files = m.files().stream().filter(e -> e.type() == BackupManifest.FileEntry.FILE).count();
            assertThat(files).isGreaterThan(1500);
            assertThat(m.objects().size()).as("small files are bundled").isLessThan((int) (files / 20));
            assertThat(runner.progress().bytesDone()).isEqualTo(runner.progress().bytesTotal());

            Map<String, String> before;
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select (select count(*) || ':' || md5(string_agg(v, ',' order by id)) from far), "
                         + "(select count(*) || ':' || md5(string_agg(v, ',' order by id)) from big)")) {
                r.next();
                before = new TreeMap<>(Map.of("far", r.getString(1), "big", r.getString(2)));
            }
            // a TARGET.tablespaces planted as a link to someone else's directory: refused before anything is written,
            // nothing behind the link touched
            Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere").resolve(m.tablespaces().get(0).oid()));
            Files.writeString(elsewhere.resolve("precious"), "not the restore's");
            Path planted = tmp.resolve("planted");
            Files.createSymbolicLink(tmp.resolve("planted.tablespaces"), tmp.resolve("elsewhere"));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(),
                            user)).run(new RestoreRunner.Request("bb", "r0", "b1", result.manifestSha256(), Optional.empty(), planted,
                            PostgresCluster.freePort(), false, "postgres", 2, Duration.ofMinutes(3))))
                    .hasMessageContaining("planted.tablespaces exists (a symbolic link)");
            assertThat(elsewhere.resolve("precious")).hasContent("not the restore's");
            assertThat(planted).doesNotExist();
            Path target = tmp.resolve("restored");
            int port = PostgresCluster.freePort();
            new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user)).run(new RestoreRunner.Request("bb", "r1", "b1",
                    result.manifestSha256(), Optional.empty(), target, port, false, "postgres", 2, Duration.ofMinutes(3)));
            PostgresCluster restored = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), user).at(target), port);
            try (Connection c = restored.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select (select count(*) || ':' || md5(string_agg(v, ',' order by id)) from far), "
                         + "(select count(*) || ':' || md5(string_agg(v, ',' order by id)) from big)")) {
                r.next();
                assertThat(Map.of("far", r.getString(1), "big", r.getString(2))).isEqualTo(before);
                assertThat(Files.isSymbolicLink(target.resolve("pg_tblspc").resolve(m.tablespaces().get(0).oid()))).isTrue();
                assertThat(Files.readSymbolicLink(target.resolve("pg_tblspc").resolve(m.tablespaces().get(0).oid())).toString())
                        .as("the restored tablespace is not the source's").doesNotStartWith(space.toString());
                assertThat(target.resolve("pg_wal")).as("the restored pg_wal is its own, not a link to the source's")
                        .isDirectory().matches(p -> !Files.isSymbolicLink(p));
                assertThat(target.resolve("pg_wal/archive_status")).isDirectory();
            } finally {
                restored.stopServer();
            }

            // the same backup as one tar archive (what a download sends): extracted and started as it is, with no
            // restore, it holds the same data; its tablespace is a directory of its own inside it
            BackupArchive archive = new BackupArchive(repo);
            BackupArchive.Wal wal = archive.wal(m).orElseThrow();
            Path tar = tmp.resolve("b1.tar");
            java.util.concurrent.atomic.AtomicLong counted = new java.util.concurrent.atomic.AtomicLong();
            try (java.io.OutputStream out = Files.newOutputStream(tar)) {
                archive.write(m, wal, out, counted::addAndGet);
            }
            assertThat(counted.get()).isEqualTo(BackupArchive.approximateBytes(m, wal));
            Path extracted = Files.createDirectory(tmp.resolve("extracted"), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                    java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"))); // mkdir -m 700
            Process untar = new ProcessBuilder("tar", "-xf", tar.toString(), "-C", extracted.toString()).redirectErrorStream(true).start();
            String untarOutput = new String(untar.getInputStream().readAllBytes());
            assertThat(untar.waitFor()).as("tar -xf: %s", untarOutput).isZero();
            assertThat(extracted.resolve("tablespace_map")).doesNotExist();
            Path tablespace = extracted.resolve("pg_tblspc").resolve(m.tablespaces().get(0).oid());
            assertThat(tablespace).isDirectory().matches(p -> !Files.isSymbolicLink(p));
            assertThat(Files.size(extracted.resolve(bigPath))).isEqualTo(Files.size(db.cluster.dataDirectory().resolve(bigPath)));
            user.own(extracted);
            int tarPort = PostgresCluster.freePort();
            Files.writeString(extracted.resolve("postgresql.auto.conf"), "\nport = " + tarPort + "\n", java.nio.file.StandardOpenOption.APPEND);
            PostgresCluster fromTar = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), user).at(extracted), tarPort);
            try {
                fromTar.startServer();
            } catch (java.io.IOException e) {
                throw new AssertionError("the extracted archive does not start: " + fromTar.log(), e);
            }
            try (Connection c = fromTar.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select (select count(*) || ':' || md5(string_agg(v, ',' order by id)) from far), "
                         + "(select count(*) || ':' || md5(string_agg(v, ',' order by id)) from big)")) {
                r.next();
                assertThat(Map.of("far", r.getString(1), "big", r.getString(2))).as("the extracted archive's data").isEqualTo(before);
            } finally {
                fromTar.stopServer();
            }

            // a damaged object stops the archive with a reason, before its end
            BackupManifest.FileEntry bigFirst = m.files().stream().filter(e -> e.path().equals(bigPath) && e.fileOffset() == 0)
                    .findFirst().orElseThrow();
            String damagedKey = m.objects().stream().filter(o -> o.number() == bigFirst.object()).findFirst().orElseThrow().key();
            Path damagedFile = tmp.resolve("repo").resolve(damagedKey);
            try (RandomAccessFile f = new RandomAccessFile(damagedFile.toFile(), "rw")) {
                f.seek(f.length() / 2);
                int b = f.read();
                f.seek(f.length() / 2);
                f.write(b ^ 0x5a);
            }
            java.io.ByteArrayOutputStream cut = new java.io.ByteArrayOutputStream();
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> archive.write(m, wal, cut, n -> { }))
                    .isInstanceOf(java.io.IOException.class);
            assertThat((long) cut.size()).as("stopped before the end").isLessThan(Files.size(tar));
            Path cutTar = tmp.resolve("cut.tar");
            Files.write(cutTar, cut.toByteArray());
            Process list = new ProcessBuilder("tar", "-tf", cutTar.toString()).redirectErrorStream(true).start();
            list.getInputStream().readAllBytes();
            assertThat(list.waitFor()).as("what was sent of a cut archive is no valid tar").isNotZero();
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    /**
     * 100,000 small files (written into a directory of the data directory that PostgreSQL does not use, which is
     * copied like any other) become a handful of bundles, not 100,000 objects, and every one is in the manifest.
     */
    @Test
    void aHundredThousandSmallFilesMakeAHandfulOfObjects() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-bb-many-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "many")) {
            Path many = Files.createDirectories(db.cluster.dataDirectory().resolve("tidemark_many_files"));
            byte[] content = new byte[120];
            for (int i = 0; i < 100_000; i++) {
                Path dir = many.resolve(Integer.toString(i / 1000));
                if (i % 1000 == 0) {
                    Files.createDirectories(dir);
                }
                content[0] = (byte) i;
                content[1] = (byte) (i >> 8);
                Files.write(dir.resolve("f" + i), content);
            }
            db.startStreaming(WalListener.NONE);
            BaseBackupRunner runner = new BaseBackupRunner(repo, BaseBackupRunner.Settings.defaults().withWorkers(2));
            BackupManifest m = runner.run("many", "b1", db.connections(), db.cluster.dataDirectory(), db.durableWal()).manifest();
            long small = m.files().stream().filter(e -> e.path().startsWith("tidemark_many_files/")
                    && e.type() == BackupManifest.FileEntry.FILE).count();
            assertThat(small).isEqualTo(100_000);
            assertThat(m.objects().size()).as("objects for %d files", m.files().size()).isLessThan(40);
            try (var objects = repo.store().list(repo.layout().baseBackupPrefix("many", "b1"))) {
                assertThat(objects.count()).as("objects in the repository, the manifest included").isEqualTo(m.objects().size() + 1);
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }
}
