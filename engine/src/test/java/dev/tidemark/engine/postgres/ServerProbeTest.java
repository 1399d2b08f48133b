package dev.tidemark.engine.postgres;

import dev.tidemark.engine.operations.ServerStats;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What db status shows of a server, asked by a role with and without pg_monitor, and where it keeps its configuration. */
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

    @Test
    void theConfigurationLayoutIsReportedAndARoleThatMayNotAskLeavesTheServerLogClean() {
        try (PostgresCluster cluster = PostgresCluster.start()) {
            assertThat(ServerProbe.configuration(PgConnections.parse(cluster.url(), null)))
                    .isEqualTo("configuration inside the data directory");
            cluster.execute("create role plain login");
            assertThat(ServerProbe.configuration(PgConnections.parse("postgresql://plain@127.0.0.1:" + cluster.port() + "/postgres", null)))
                    .isEqualTo("not known: the role plain may not read where the server's files are (data_directory, config_file):"
                            + " GRANT pg_read_all_settings TO plain");
            assertThat(cluster.log()).doesNotContain("must be superuser").doesNotContain("permission denied");
        }
        try (PostgresCluster cluster = PostgresCluster.startWithExternalConfig()) {
            assertThat(ServerProbe.configuration(PgConnections.parse(cluster.url(), null)))
                    .startsWith("configuration outside the data directory (")
                    .contains(", " + cluster.configDirectory().resolve("postgresql.conf") + ")");
        }
    }
}
