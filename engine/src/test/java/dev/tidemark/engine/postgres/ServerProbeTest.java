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

    @Test
    void aDetailedViewAsksThePrimaryOverOneConnectionAndAnUnreachableOneSaysSoInEachPart() {
        try (PostgresCluster cluster = PostgresCluster.start()) {
            cluster.execute("alter system set log_connections = on", "select pg_reload_conf()");
            long before = cluster.log().lines().filter(l -> l.contains("connection authorized")).count();
            ServerProbe.PrimaryState state = ServerProbe.primary(PgConnections.parse(cluster.url(), null), true, "tidemark_probe");
            assertThat(state.stats().error()).isNull();
            assertThat(state.stats().logicalBytes()).isPositive();
            assertThat(state.configuration()).isEqualTo("configuration inside the data directory");
            assertThat(state.synchronousState()).isEqualTo(SynchronousState.NOT_CONNECTED);
            assertThat(cluster.log().lines().filter(l -> l.contains("connection authorized")).count() - before)
                    .as("connections opened for usage, configuration and sync state together").isEqualTo(1);

            ServerProbe.PrimaryState asynchronous = ServerProbe.primary(PgConnections.parse(cluster.url(), null), false, null);
            assertThat(asynchronous.configuration()).isNull();
            assertThat(asynchronous.synchronousState()).isNull();

            ServerProbe.PrimaryState down = ServerProbe.primary(PgConnections.parse("postgresql://127.0.0.1:1/postgres", null), true, "tidemark_probe");
            assertThat(down.stats().error()).startsWith("server unreachable: ");
            assertThat(down.configuration()).startsWith("not known: ");
            assertThat(down.synchronousState()).startsWith("unknown (");
        }
    }
}
