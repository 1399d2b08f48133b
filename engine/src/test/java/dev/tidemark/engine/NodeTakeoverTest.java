package dev.tidemark.engine;

import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.NodeView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.operations.WindowView;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TableChecksums;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 20: three engine nodes on one PostgreSQL catalog and one file repository, three databases under light writes.
 * A node dies without handing over: its database streams again on another node within 30 s, the window has no gap, and
 * a restore to a moment inside the takeover equals the source then. A node whose renewals freeze stops its work before
 * its lease can be taken, and rejoins without the databases.
 */
class NodeTakeoverTest {
    private static final List<String> IDS = List.of("db1", "db2", "db3");

    @Test
    void aDeadNodesDatabasesMoveToTheOthersWithNothingLost() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-takeover-");
        ServerUser.detect().ownOne(tmp);
        Map<String, PostgresCluster> servers = new HashMap<>();
        Map<String, Engine> engines = new HashMap<>();
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicBoolean stop = new AtomicBoolean();
        Thread writer = null;
        PostgresCluster catalogServer = PostgresCluster.start(); // closed after the engines: they release their leases in it
        try {
            catalogServer.execute("create database catalog");
            String catalogUrl = "jdbc:postgresql://127.0.0.1:" + catalogServer.port() + "/catalog";
            for (String id : IDS) {
                PostgresCluster s = PostgresCluster.start();
                servers.put(id, s);
                s.execute("create table ticks(id bigserial primary key, at timestamptz default clock_timestamp(), note text)");
            }
            for (String n : List.of("node-a", "node-b", "node-c")) {
                engines.put(n, Engine.start(MultiNodeTest.config(tmp, n, catalogUrl)));
            }
            Engine a = engines.get("node-a");
            for (String id : IDS) {
                PostgresCluster s = servers.get(id);
                a.register(new RegisterDatabase(id, s.url(), s.dataDirectory().toString(), null, null), "alice");
            }
            // spread evenly: one database a node
            Map<String, String> ownerOf = await(() -> owners(engines), o -> o.size() == 3, Duration.ofSeconds(30));
            assertThat(new java.util.HashSet<>(ownerOf.values())).hasSize(3);
            for (String id : IDS) {
                Engine owner = engines.get(ownerOf.get(id));
                await(() -> owner.database(id).streaming().state(), "streaming"::equals, Duration.ofSeconds(30));
                BackupView asked = a.requestBaseBackup(id, "bob");
                BackupView done = await(() -> a.baseBackup(id, asked.id()), v -> !v.status().matches("requested|running"),
                        Duration.ofMinutes(2));
                assertThat(done.status()).as(done.failure()).isEqualTo("completed");
            }
            writer = Thread.ofPlatform().daemon().start(() -> {
                long n = 0;
                while (!stop.get()) {
                    if (writing.get()) {
                        for (String id : IDS) {
                            servers.get(id).execute("insert into ticks(note) values ('tick " + n + "')");
                        }
                        n++;
                    }
                    try {
                        Thread.sleep(200);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            Thread.sleep(2000);

            // node-c dies: no release, no handover
            String victim = "node-c";
            String lostDb = IDS.stream().filter(id -> ownerOf.get(id).equals(victim)).findFirst().orElseThrow();
            PostgresCluster lostServer = servers.get(lostDb);
            Instant windowStartBefore = a.recoveryWindow(lostDb).start();
            long crashed = System.nanoTime();
            engines.remove(victim).crashForTest();

            // a moment inside the takeover: the source's content then
            Thread.sleep(4000);
            writing.set(false);
            Thread.sleep(300);
            Instant moment = lostServer.serverNow();
            Map<String, String> atMoment = checksums(lostServer);
            Thread.sleep(1100);
            writing.set(true);

            Map<String, String> after = await(() -> owners(engines), o -> o.containsKey(lostDb), Duration.ofSeconds(30));
            Engine heir = engines.get(after.get(lostDb));
            await(() -> heir.database(lostDb).streaming().state(), "streaming"::equals, Duration.ofSeconds(30));
            double tookSeconds = (System.nanoTime() - crashed) / 1e9;
            assertThat(tookSeconds).as("streams again on another node within 30 s").isLessThan(30);
            EventPage.Event change = a.events(lostDb, 0, 1000).events().stream().filter(e -> e.type().equals("OwnerChanged"))
                    .reduce((x, y) -> y).orElseThrow();
            assertThat(change.payload().get("from")).isEqualTo(victim);
            assertThat(change.payload().get("to")).isEqualTo(heir.config().nodeId());

            // the window has no gap: it still starts at the first backup and reaches past the moment, nothing excluded
            WindowView window = await(() -> heir.recoveryWindow(lostDb), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(2)),
                    Duration.ofSeconds(60));
            assertThat(window.start()).isEqualTo(windowStartBefore);
            assertThat(window.excluded()).isEmpty();
            Path target = tmp.resolve("restored");
            int port = PostgresCluster.freePort();
            RestoreView requested = a.requestRestore(lostDb, new RestoreRequest(moment.atOffset(ZoneOffset.UTC), false, target.toString(),
                    port, false), "bob");
            RestoreView restored = await(() -> a.restore(lostDb, requested.id()), r -> !r.status().matches("requested|running"),
                    Duration.ofMinutes(3));
            assertThat(restored.status()).as(restored.failure()).isEqualTo("completed");
            PostgresCluster copy = PostgresCluster.attach(PgServer.factory(lostServer.server().binaries(), ServerUser.detect()).at(target), port);
            try {
                assertThat(checksums(copy)).isEqualTo(atMoment);
            } finally {
                copy.stopServer();
            }

            // a frozen node: its renewals stop; it gives its databases up before the lease lapses for the others
            String frozenName = heir.config().nodeId().equals("node-a") ? "node-b" : "node-a";
            Engine frozen = engines.get(frozenName);
            Engine other = heir.config().nodeId().equals(frozenName) ? engines.get("node-a") : heir;
            List<String> frozenDbs = new ArrayList<>(frozen.ownedDatabases());
            assertThat(frozenDbs).isNotEmpty();
            long paused = System.nanoTime();
            frozen.pauseLeaseRenewalForTest(true);
            await(frozen::ownedDatabases, s -> s.isEmpty(), Duration.ofSeconds(20));
            double fencedAfter = (System.nanoTime() - paused) / 1e9;
            assertThat(other.ownedDatabases()).as("nobody else holds them yet when the frozen node stops").doesNotContainAnyElementsOf(frozenDbs);
            for (String id : frozenDbs) {
                assertThat(frozen.database(id).streaming().state()).doesNotStartWith("streaming");
            }
            await(other::ownedDatabases, s -> s.containsAll(frozenDbs), Duration.ofSeconds(30));
            double takenAfter = (System.nanoTime() - paused) / 1e9;
            assertThat(fencedAfter).isLessThan(takenAfter);
            frozen.pauseLeaseRenewalForTest(false);
            Thread.sleep(Engine.leaseDuration().toMillis() / 2);
            assertThat(frozen.ownedDatabases()).as("rejoins without them").isEmpty();
            List<NodeView> nodes = other.nodes();
            assertThat(nodes).extracting(NodeView::id).contains("node-a", "node-b", "node-c");
            assertThat(nodes).filteredOn(n -> n.id().equals(frozenName)).singleElement().satisfies(n -> assertThat(n.live()).isTrue());
            assertThat(nodes).filteredOn(n -> n.id().equals(victim)).singleElement().satisfies(n -> assertThat(n.live()).isFalse());

            // drain: every database of the other node moves to the rejoined one within seconds, the windows stay whole
            String otherName = other.config().nodeId();
            Map<String, Instant> startsBefore = new HashMap<>();
            for (String id : IDS) {
                startsBefore.put(id, a.recoveryWindow(id).start());
            }
            long drained = System.nanoTime();
            frozen.drainNode(otherName, true, "admin");
            await(frozen::ownedDatabases, s -> s.containsAll(IDS), Duration.ofSeconds(30));
            assertThat((System.nanoTime() - drained) / 1e9).as("moved within 30 s").isLessThan(30);
            assertThat(other.ownedDatabases()).isEmpty();
            assertThat(frozen.nodes()).filteredOn(n -> n.id().equals(otherName)).singleElement()
                    .satisfies(n -> assertThat(n.draining()).isTrue());
            for (String id : IDS) {
                await(() -> frozen.database(id).streaming().state(), "streaming"::equals, Duration.ofSeconds(30));
                Instant now = servers.get(id).serverNow();
                // the owner's window (another node's follows it within seconds: NodeProcessesTest)
                WindowView w = await(() -> frozen.recoveryWindow(id), x -> x.end() != null && x.end().isAfter(now), Duration.ofSeconds(60));
                assertThat(w.start()).isEqualTo(startsBefore.get(id));
                assertThat(w.excluded()).isEmpty();
            }
        } finally {
            stop.set(true);
            if (writer != null) {
                writer.join(5000);
            }
            engines.values().forEach(Engine::close);
            servers.values().forEach(PostgresCluster::close);
            catalogServer.close();
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static Map<String, String> owners(Map<String, Engine> engines) {
        Map<String, String> owners = new HashMap<>();
        engines.forEach((name, e) -> e.ownedDatabases().forEach(db -> owners.put(db, name)));
        return owners;
    }

    private static Map<String, String> checksums(PostgresCluster c) throws Exception {
        try (Connection connection = c.connect()) {
            return TableChecksums.of(connection);
        }
    }
}
