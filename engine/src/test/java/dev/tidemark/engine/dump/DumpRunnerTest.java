package dev.tidemark.engine.dump;

import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Dumps of a real cluster: content equal after download and pg_restore, and failures that leave nothing behind. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DumpRunnerTest {
    private PostgresCluster cluster;
    private Path tmp;
    private Repository repo;
    private DumpRunner runner;

    @BeforeAll
    void setUp() throws Exception {
        tmp = Files.createTempDirectory("tidemark-dump-");
        cluster = PostgresCluster.start();
        repo = TestRepositories.file(tmp.resolve("repo"));
        runner = new DumpRunner(repo, PgBinaries.locate(Optional.empty()));
        cluster.execute("create database shop");
        cluster.executeIn("shop",
                "create schema sales", "create schema stock",
                "create table sales.orders(id bigint primary key, note text, amount numeric(12,2))",
                "insert into sales.orders select g, 'order ' || g, g * 1.5 from generate_series(1, 1000000) g",
                "create table stock.items(sku text primary key, qty int, tags text[])",
                "insert into stock.items select 'sku-' || g, g % 17, array['a', 'b' || g] from generate_series(1, 5000) g",
                "create table public.docs(id int primary key, body oid)",
                "insert into docs values (1, lo_from_bytea(0, decode(repeat('ab', 50000), 'hex'))),"
                        + " (2, lo_from_bytea(0, 'hello large object'::bytea))");
    }

    @AfterAll
    void tearDown() {
        cluster.close();
        PostgresCluster.deleteTree(tmp);
    }

    @Test
    void dumpDownloadAndRestoreGiveTheSameContent() throws Exception {
        DumpManifest manifest = runner.dump("shop", "d1", PgConnections.parse(cluster.url(), null), List.of("shop"));
        assertThat(manifest.archives()).hasSize(1);
        DumpManifest.Archive archive = manifest.archives().get(0);
        assertThat(archive.database()).isEqualTo("shop");
        assertThat(runner.progress()).as("progress: the archive bytes written, the databases done")
                .satisfies(p -> assertThat(p.bytesDone()).as("the archive and the globals").isGreaterThan(archive.bytes()))
                .satisfies(p -> assertThat(p.filesDone()).isEqualTo(1))
                .satisfies(p -> assertThat(p.filesTotal()).isEqualTo(1));

        // The download is the plain pg_dump -Fc archive: pg_restore reads it directly.
        Path file = tmp.resolve("shop.dump");
        try (InputStream in = runner.open(archive); OutputStream out = Files.newOutputStream(file)) {
            assertThat(in.transferTo(out)).isEqualTo(archive.bytes());
        }
        assertThat(new String(Files.readAllBytes(file), 0, 5)).isEqualTo("PGDMP");

        cluster.execute("create database shop_copy");
        runner.restore(archive, PgConnections.parse(cluster.url(), null), "shop_copy");
        try (Connection source = cluster.connect("shop"); Connection copy = cluster.connect("shop_copy")) {
            assertThat(TableChecksums.of(copy)).isEqualTo(TableChecksums.of(source)).containsKeys("sales.orders", "stock.items", "public.docs");
            assertThat(largeObjects(copy)).isEqualTo(largeObjects(source));
        }
    }

    @Test
    void aRestoreThatFailsHalfwayChangesNothingInTheTarget() throws Exception {
        cluster.execute("create database tiny", "create database tiny_target");
        cluster.executeIn("tiny", "create table a(id int)", "create table b(id int)", "insert into a values (1)", "insert into b values (1)");
        // the target has both tables, and a view of its own on a: dropping a fails, after b has been dropped
        cluster.executeIn("tiny_target", "create table a(id int)", "create table b(id int)", "insert into b values (42)",
                "create view keeps_a as select * from a");
        DumpManifest manifest = runner.dump("shop", "d-tiny", PgConnections.parse(cluster.url(), null), List.of("tiny"));
        assertThatThrownBy(() -> runner.restore(manifest.archives().get(0), PgConnections.parse(cluster.url(), null), "tiny_target"))
                .hasMessageContaining("pg_restore into tiny_target failed").hasMessageContaining("keeps_a");
        try (Connection c = cluster.connect("tiny_target"); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select id from b")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getInt(1)).as("the target's own b, untouched: the restore runs in one transaction").isEqualTo(42);
        }
    }

    @Test
    void aFailingPgDumpFailsWithItsOwnMessageAndLeavesNoObject() throws Exception {
        cluster.execute("create role nobody login");
        cluster.executeIn("shop", "revoke all on schema sales from public", "revoke all on all tables in schema sales from public");
        PgConnections asNobody = PgConnections.parse("postgresql://nobody@127.0.0.1:" + cluster.port() + "/postgres", null);
        assertThatThrownBy(() -> runner.dump("shop", "d-denied", asNobody, List.of("shop")))
                .hasMessageContaining("pg_dump").hasMessageContaining("permission denied");
        assertThat(objects("d-denied")).isEmpty();

        PgConnections nowhere = PgConnections.parse("postgresql://postgres@127.0.0.1:" + PostgresCluster.freePort() + "/postgres", null);
        assertThatThrownBy(() -> runner.dump("shop", "d-refused", nowhere, List.of())).hasMessageContaining("cannot connect");
        assertThat(objects("d-refused")).isEmpty();

        assertThatThrownBy(() -> runner.dump("shop", "d-missing", PgConnections.parse(cluster.url(), null), List.of("nope")))
                .hasMessageContaining("'nope' does not exist");

        // client programs older than the server cannot dump it (only one major version is installed here, so the
        // older client is the installed one declared a major version lower)
        PgBinaries installed = PgBinaries.locate(Optional.empty());
        DumpRunner older = new DumpRunner(repo, new PgBinaries(installed.directory(), installed.majorVersion() - 1));
        assertThatThrownBy(() -> older.dump("shop", "d-old", PgConnections.parse(cluster.url(), null), List.of()))
                .hasMessageContaining("cannot dump a PostgreSQL " + installed.majorVersion() + " server")
                .hasMessageContaining("install the client programs");
        assertThat(objects("d-old")).isEmpty();
    }

    private List<String> objects(String dumpId) throws Exception {
        try (Stream<ObjectInfo> s = repo.store().list(repo.layout().dumpPrefix("shop", dumpId))) {
            return s.map(ObjectInfo::key).toList();
        }
    }

    private static List<String> largeObjects(Connection c) throws Exception {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select d.id, md5(lo_get(d.body)) from docs d order by d.id")) {
            List<String> out = new java.util.ArrayList<>();
            while (rs.next()) {
                out.add(rs.getInt(1) + ":" + rs.getString(2));
            }
            return out;
        }
    }
}
