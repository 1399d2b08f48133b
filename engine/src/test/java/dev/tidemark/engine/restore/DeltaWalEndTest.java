package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.PostgresCluster;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The delta's check of the repository's WAL against the stopped directory's own, on a segment a real server switched:
 * the repository may end at the switch record (the stream did not get the padding before the server stopped), and that
 * still gives the directory's state back; anything short of the switch, or a local byte after it, does not.
 */
class DeltaWalEndTest {

    @Test
    void aRepositoryEndingAtTheSwitchRecordGivesBackASwitchedSegmentAndNothingShortOfItDoes() throws Exception {
        try (PostgresCluster pg = PostgresCluster.start()) {
            pg.execute("create table t(x int)", "insert into t select generate_series(1, 1000)");
            Lsn switchEnd;
            String name;
            try (Connection c = pg.connect(); Statement st = c.createStatement()) {
                try (ResultSet rs = st.executeQuery("select pg_switch_wal()::text")) {
                    rs.next();
                    switchEnd = Lsn.parse(rs.getString(1));
                }
                try (ResultSet rs = st.executeQuery("select pg_walfile_name('" + switchEnd.plus(-1) + "')")) {
                    rs.next();
                    name = rs.getString(1);
                }
            }
            long segmentSize = 16L << 20;
            WalSegment segment = WalSegment.parse(name, segmentSize);
            // the switch wrote and flushed the segment to its end; read before a checkpoint recycles it
            byte[] own = Files.readAllBytes(pg.dataDirectory().resolve("pg_wal").resolve(name));
            int end = (int) (switchEnd.value() - segment.start().value());
            assertThat(DeltaInPlace.switchEnd(Arrays.copyOf(own, end))).as("the switch record, proved by its CRC").isEqualTo(end);

            // the repository's copy ends right after the switch record: the rest of the local segment is padding
            assertThat(DeltaInPlace.compare(Arrays.copyOf(own, end), own, segment)).isNull();
            // with some of the padding as well, or all of it
            assertThat(DeltaInPlace.compare(Arrays.copyOf(own, end + 8192), own, segment)).isNull();
            assertThat(DeltaInPlace.compare(own.clone(), own, segment)).isNull();

            // short of the switch record: the repository lacks WAL the directory has
            assertThat(DeltaInPlace.compare(Arrays.copyOf(own, end - 8), own, segment)).contains("ends at");
            // a switch record whose CRC does not prove it
            byte[] damaged = Arrays.copyOf(own, end);
            damaged[end - 1] ^= 0x01;
            byte[] ownDamaged = own.clone();
            ownDamaged[end - 1] ^= 0x01;
            assertThat(DeltaInPlace.compare(damaged, ownDamaged, segment)).contains("ends at");
            // a byte after the switch in the local segment: not padding
            byte[] written = own.clone();
            written[end + 100] = 1;
            assertThat(DeltaInPlace.compare(Arrays.copyOf(own, end), written, segment)).contains("ends at");
            // different bytes before the end: another history
            byte[] other = Arrays.copyOf(own, end);
            other[100] ^= 0x01;
            assertThat(DeltaInPlace.compare(other, own, segment)).contains("another history");
        }
    }
}
