package dev.tidemark.engine.node;

import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The lease round of a node that wakes from a freeze to find another node took its databases: none of them is writable
 * for a moment while the round tells the node's streams one after the other (a stream's last upload went out in that
 * moment, NodeProcessesTest).
 */
class LeasesTest {

    @Test
    void aRoundThatFindsLeasesTakenNeverShowsThemWritable() throws Exception {
        try (PostgresCluster catalog = PostgresCluster.start()) {
            PGSimpleDataSource ds = new PGSimpleDataSource();
            ds.setURL(catalog.jdbcUrl());
            Map<String, String> active = Map.of("db1", "node-a", "db2", "node-a", "db3", "node-a");
            Leases a = new Leases(ds, "node-a", Duration.ofSeconds(4), () -> active);
            List<String> seenWritable = new ArrayList<>();
            a.listener(new Leases.Listener() {
                @Override
                public void acquired(String databaseId, String previousOwner, long epoch) {
                }

                @Override
                public void lost(String databaseId, String reason) {
                    // told one after the other: a stream stopping here must find neither taken one writable
                    for (String id : List.of("db1", "db2")) {
                        if (a.mayWrite(id)) {
                            seenWritable.add(id + " while " + databaseId + " was told it was lost");
                        }
                    }
                }
            });
            a.tick();
            assertThat(active.keySet()).allMatch(a::mayWrite);

            catalog.execute("update tidemark_lease set owner = 'node-b', epoch = epoch + 1 where database_id in ('db1', 'db2')");
            a.tick();
            assertThat(seenWritable).as("taken leases seen writable during the round").isEmpty();
            assertThat(a.mayWrite("db1")).isFalse();
            assertThat(a.mayWrite("db2")).isFalse();
            assertThat(a.mayWrite("db3")).as("the lease it still holds").isTrue();
            a.close();
        }
    }
}
