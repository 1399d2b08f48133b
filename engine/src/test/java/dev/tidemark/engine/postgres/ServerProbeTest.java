package dev.tidemark.engine.postgres;

import dev.tidemark.engine.operations.ServerStats;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What db status shows of a server, asked by a role with and without pg_monitor. */
class ServerProbeTest {

    @Test
    void aRoleWithoutPgMonitorLeavesTheSizeOnDiskOutAndTheServerLogClean() {
        try (PostgresCluster cluster = PostgresCluster.start()) {
            cluster.execute("create role plain login", "create role monitor login", "grant pg_monitor to monitor");
            ServerStats withMonitor = ServerProbe.stats(PgConnections.parse("postgresql://monitor@127.0.0.1:" + cluster.port() + "/postgres", null));
            assertThat(withMonitor.error()).isNull();
            assertThat(withMonitor.diskBytes()).isGreaterThan(withMonitor.logicalBytes());

            ServerStats plain = ServerProbe.stats(PgConnections.parse("postgresql://plain@127.0.0.1:" + cluster.port() + "/postgres", null));
            assertThat(plain.error()).isNull();
            assertThat(plain.logicalBytes()).isPositive();
            assertThat(plain.diskBytes()).as("unknown without pg_monitor, not the logical size").isNull();
            assertThat(cluster.log()).doesNotContain("permission denied");
        }
    }
}
