package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands.*;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Comparator;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The persistent read model on both event stores: rows follow the commands, equal the in-memory history, survive a
 * restart without a replay, and a rebuild (token reset, replay) gives the same rows.
 */
class CatalogRowsTest {
    private static final String CHAIN = "7300000000000000001-15";
    private static PostgresCluster postgres;
    private static int databases;

    @BeforeAll
    static void start() {
        postgres = PostgresCluster.start();
    }

    @AfterAll
    static void stop() {
        postgres.close();
    }

    private static CatalogSettings settings(String store, Path dir) throws Exception {
        if (store.equals("embedded")) {
            return new CatalogSettings(dir.resolve("catalog"), null, null, null, null, null, Clock.systemUTC());
        }
        String name = "rows" + (++databases);
        postgres.execute("create database " + name);
        return new CatalogSettings(null, "jdbc:postgresql://127.0.0.1:" + postgres.port() + "/" + name, "postgres", null, null, null,
                Clock.systemUTC());
    }

    @ParameterizedTest
    @ValueSource(strings = {"embedded", "postgresql"})
    void rowsFollowTheEventsAndARebuildGivesTheSameRows(String store, @TempDir Path dir) throws Exception {
        CatalogSettings settings = settings(store, dir);
        // relative to now: the rows' window is computed at the time the event was stored, within the 7-day window
        Instant t = Instant.now().truncatedTo(ChronoUnit.SECONDS).minus(Duration.ofHours(1));
        List<String> before;
        try (Catalog catalog = Catalog.open(settings)) {
            if (store.equals("embedded")) { // the catalog's files are the engine's alone
                assertThat(java.nio.file.attribute.PosixFilePermissions.toString(
                        java.nio.file.Files.getPosixFilePermissions(dir.resolve("catalog")))).isEqualTo("rwx------");
            }
            catalog.send(new RegisterDatabase("shop", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null, Policy.defaults(), t),
                    "alice");
            catalog.send(new RequestBaseBackup("shop", "b1", "manual", t), "alice");
            catalog.send(new StartBaseBackup("shop", "b1", "node-1", false, t.plusSeconds(1)), "node-1");
            catalog.send(new CompleteBaseBackup("shop", "b1", CHAIN, 1, "0/2000028", "000000010000000000000002", "0/2000100", t,
                    t.plusSeconds(5), 1000, 100, "db/shop/base/b1/manifest", "ab".repeat(32), 0, t.plusSeconds(6)), "node-1");
            catalog.send(new RequestBaseBackup("shop", "b2", "scheduled", t.plusSeconds(10)), "scheduler");
            catalog.send(new FailBaseBackup("shop", "b2", "server unreachable", t.plusSeconds(11)), "node-1");
            for (int i = 2; i < 300; i++) {
                String segment = new WalSegment(1, i, 16L << 20).name();
                catalog.send(new RecordWal("shop", CHAIN, 1, segment, segment, t.plusSeconds(i), t.plusSeconds(i + 1), 16 << 20,
                        new WalSegment(1, i + 1, 16L << 20).start().toString()), "node-1");
            }
            for (String d : List.of("d1", "d2", "d3")) {
                catalog.send(new RequestDump("shop", d, List.of(), "manual", t.plusSeconds(400)), "alice");
                catalog.send(new StartDump("shop", d, false, t.plusSeconds(401)), "node-1");
                catalog.send(new CompleteDump("shop", d, List.of(new DumpArchive("postgres", "db/shop/dump/" + d + "/0000.dump",
                        "cd".repeat(32), 10, 5)), "db/shop/dump/" + d + "/manifest", t.plusSeconds(402), false), "node-1");
            }
            catalog.send(new ExpireBackups("shop", List.of(), List.of("d1"), List.of(), t.plusSeconds(500)), "scheduler");
            catalog.send(new RequestRestore("shop", "r1", "dump", null, false, null, null, false, "d2", "postgres", "copy", null,
                    t.plusSeconds(600)), "alice");
            catalog.send(new StartRestore("shop", "r1", t.plusSeconds(601)), "node-1");
            catalog.send(new RegisterDatabase("other", "postgresql://postgres@127.0.0.1:5433/postgres", "/pg2", null,
                    Policy.defaults(), t), "alice");

            DatabaseHistory h = catalog.view().database("shop").orElseThrow();
            CatalogRows rows = catalog.rows();
            assertThat(rows.awaitVersion("shop", h.version(), Duration.ofSeconds(30))).isTrue();
            assertThat(rows.awaitVersion("other", 0, Duration.ofSeconds(30))).isTrue();
            assertThat(rows.baseBackups("shop")).isEqualTo(h.baseBackups().stream()
                    .sorted(Comparator.comparing(DatabaseHistory.BaseBackup::requestedAt).reversed()).toList());
            assertThat(rows.dumps("shop")).containsExactlyInAnyOrderElementsOf(h.dumps());
            assertThat(rows.dumps("shop")).filteredOn(d -> d.id().equals("d1")).singleElement()
                    .extracting(DatabaseHistory.Dump::status).isEqualTo(JobStatus.EXPIRED);
            assertThat(rows.restores("shop")).isEqualTo(h.restores());
            assertThat(rows.restores("shop").get(0).status()).isEqualTo(JobStatus.RUNNING);
            CatalogRows.DatabaseRow row = rows.database("shop").orElseThrow();
            assertThat(row.version()).isEqualTo(h.version());
            assertThat(row.windowStart()).isEqualTo(t.plusSeconds(5));
            assertThat(row.windowEnd()).isEqualTo(t.plusSeconds(300));
            assertThat(rows.databases()).extracting(CatalogRows.DatabaseRow::id).containsExactly("other", "shop");

            before = rows.dump();
            assertThat(before).hasSize(2 + 2 + 3 + 1);
            assertThat(catalog.rebuildRows(Duration.ofMinutes(1))).isTrue();
            assertThat(rows.dump()).as("rows after a rebuild from the events").isEqualTo(before);
        }
        try (Catalog reopened = Catalog.open(settings)) {
            // the token was kept with the rows: nothing is replayed, the rows are there before any new event
            assertThat(reopened.rows().dump()).isEqualTo(before);
            try (Connection c = reopened.dataSource().getConnection(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select count(*) from tokenentry where processorname = '" + CatalogRows.GROUP + "'")) {
                r.next();
                assertThat(r.getInt(1)).isEqualTo(1);
            }
            reopened.send(new CompleteRestore("shop", "r1", null, null, null, null, null, "restored 2 tables", t.plusSeconds(700)),
                    "node-1");
            long version = reopened.view().database("shop").orElseThrow().version();
            assertThat(reopened.rows().awaitVersion("shop", version, Duration.ofSeconds(30))).isTrue();
            assertThat(reopened.rows().restores("shop").get(0).status()).isEqualTo(JobStatus.COMPLETED);
            assertThat(reopened.rows().restores("shop")).isEqualTo(reopened.view().database("shop").orElseThrow().restores());
        }
    }
}
