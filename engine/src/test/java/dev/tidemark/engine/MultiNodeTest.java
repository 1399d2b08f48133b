package dev.tidemark.engine;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import static dev.tidemark.engine.testing.Eventually.await;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Two engine nodes on one PostgreSQL catalog and one repository: the owner streams and works, both see everything. */
class MultiNodeTest {

    @Test
    void theOwnerNodeRunsTheWorkAskedOfAnyNode() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-nodes-");
        ServerUser.detect().ownOne(tmp);
        try (PostgresCluster catalogServer = PostgresCluster.start(); PostgresCluster protectedServer = PostgresCluster.start()) {
            catalogServer.execute("create database catalog");
            String catalogUrl = "jdbc:postgresql://127.0.0.1:" + catalogServer.port() + "/catalog";
            try (Engine a = Engine.start(config(tmp, "node-a", catalogUrl)); Engine b = Engine.start(config(tmp, "node-b", catalogUrl))) {
                a.register(new RegisterDatabase("shop", protectedServer.url(), protectedServer.dataDirectory().toString(), null, null),
                        "alice");
                // node-b learns of the database and then of its owner, in two events
                await(() -> b.databases(), dbs -> dbs.size() == 1 && !dbs.get(0).streaming().state().equals("stopped"),
                        Duration.ofMinutes(1));
                assertThat(b.database("shop").streaming().state()).isEqualTo("streamed by node-a");

                BackupView asked = b.requestBaseBackup("shop", "bob");
                BackupView done = await(() -> b.baseBackup("shop", asked.id()), v -> !v.status().matches("requested|running"),
                        Duration.ofMinutes(2));
                assertThat(done.status()).as(done.failure()).isEqualTo("completed");
                List<EventPage.Event> events = a.events("shop", 0, 100).events();
                assertThat(events).filteredOn(e -> e.type().equals("BaseBackupStarted"))
                        .singleElement().satisfies(e -> assertThat(e.payload().get("node")).isEqualTo("node-a"));
                assertThat(events).filteredOn(e -> e.type().equals("BaseBackupRequested"))
                        .singleElement().satisfies(e -> assertThat(e.actor()).isEqualTo("bob"));

                a.runScheduledJobs();
                b.runScheduledJobs();
                Thread.sleep(1500);
                assertThat(a.baseBackups("shop")).as("no second backup: the first one is recent").hasSize(1);
                assertThat(b.recoveryWindow("shop").start()).isNotNull();
                // the stream as each node knows it: the owner measures it; the other shows where it had come as the owner
                // last shared it, and no lag or slot it cannot see (not zeros)
                var theirs = await(() -> b.database("shop").streaming(), s -> s.durableLsn() != null, Duration.ofSeconds(30));
                assertThat(theirs.timeline()).isEqualTo(1);
                assertThat(theirs.durableTime()).isNotNull();
                assertThat(theirs.lagBytes()).isNull();
                assertThat(theirs.retainedBytes()).isNull();
                assertThat(a.database("shop").streaming().lagBytes()).isNotNull();
            }
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    static EngineConfig config(Path tmp, String node, String catalogUrl) {
        EngineConfig base = EngineConfig.singleHost(tmp.resolve(node), tmp.resolve("repo"), tmp.resolve("master.key"));
        return new EngineConfig(base.dataDirectory(), catalogUrl, "postgres", null, base.repository(), tmp.resolve("master.key"), false,
                "zstd", 3, null, null, null, Map.of(), 2, Duration.ofMillis(500), false, node);
    }
}
