package dev.tidemark.engine;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.PolicyChange;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The synchronous policy through the engine: the stream restarts under the application name the view shows, the view says
 * whether the server waits for it, commits go through while it does, and switching back restarts it asynchronously.
 */
class SynchronousPolicyTest {

    @Test
    void thePolicyRestartsTheStreamUnderItsNameAndTheViewSaysWhetherTheServerWaits() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-syncpolicy-");
        ServerUser.detect().ownOne(tmp);
        EngineConfig base = EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), tmp.resolve("data/master.key"));
        EngineConfig config = new EngineConfig(base.dataDirectory(), null, null, null, base.repository(), base.masterKeyFile(), false,
                "zstd", 3, null, null, null, Map.of(), 2, Duration.ofMillis(500), false, "node-1");
        try (PostgresCluster cluster = PostgresCluster.start(); Engine engine = Engine.start(config)) {
            engine.register(new RegisterDatabase("app-1", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
            assertThat(engine.database("app-1").policy().synchronous()).isFalse();
            assertThat(engine.database("app-1").streaming().synchronousState()).isNull();

            DatabaseView on = engine.changePolicy("app-1", new PolicyChange(null, null, null, null, null, null, null, true), "alice");
            assertThat(on.policy().synchronous()).isTrue();
            assertThat(on.streaming().applicationName()).isEqualTo("tidemark_app_1");
            // the stream restarts under its name; the server does not wait for it until the operator lists it
            assertThat(await(engine, v -> "async".equals(v.streaming().synchronousState()))).isTrue();
            cluster.execute("alter system set synchronous_standby_names = 'tidemark_app_1'", "select pg_reload_conf()");
            assertThat(await(engine, v -> "sync".equals(v.streaming().synchronousState()))).isTrue();
            cluster.execute("create table t(n int)", "insert into t values (1)"); // acknowledged by the stream
            assertThat(engine.events("app-1", 0, 1000).events()).anyMatch(e -> e.type().endsWith("PolicyChanged")
                    && String.valueOf(e.payload().get("policy")).contains("synchronous=true"));

            cluster.execute("alter system set synchronous_standby_names = ''", "select pg_reload_conf()");
            DatabaseView off = engine.changePolicy("app-1", new PolicyChange(null, null, null, null, null, null, null, false), "alice");
            assertThat(off.policy().synchronous()).isFalse();
            assertThat(off.streaming().applicationName()).isNull();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            String name = null;
            while (System.nanoTime() < deadline && !"tidemark-wal".equals(name)) {
                try (Connection c = cluster.connect(); Statement s = c.createStatement();
                     ResultSet rs = s.executeQuery("select application_name from pg_stat_replication where application_name like 'tidemark%'")) {
                    name = rs.next() ? rs.getString(1) : null;
                }
                Thread.sleep(100);
            }
            assertThat(name).as("the stream runs asynchronously again").isEqualTo("tidemark-wal");
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static boolean await(Engine engine, Predicate<DatabaseView> condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.test(engine.database("app-1"))) {
                return true;
            }
            Thread.sleep(100);
        }
        return false;
    }
}
