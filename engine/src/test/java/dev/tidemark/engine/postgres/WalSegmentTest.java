package dev.tidemark.engine.postgres;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WalSegmentTest {
    private static final long MB16 = 16L << 20;

    @Test
    void namesSegmentsAsPostgresDoes() {
        WalSegment s = WalSegment.containing(1, Lsn.parse("0/3000028"), MB16);
        assertThat(s.name()).isEqualTo("000000010000000000000003");
        assertThat(WalSegment.containing(2, Lsn.parse("1/FF000000"), MB16).name()).isEqualTo("0000000200000001000000FF");
        assertThat(WalSegment.containing(2, Lsn.parse("1/FF000000"), MB16).next().name()).isEqualTo("000000020000000200000000");
    }

    @Test
    void parsesWhatItNames() {
        WalSegment s = WalSegment.parse("0000000300000001000000A0", MB16);
        assertThat(s.timeline()).isEqualTo(3);
        assertThat(s.start()).isEqualTo(Lsn.parse("1/A0000000"));
        assertThat(s.end()).isEqualTo(Lsn.parse("1/A1000000"));
        assertThat(WalSegment.parse(s.name(), MB16)).isEqualTo(s);
    }

    @Test
    void rejectsNamesThatCannotExist() {
        assertThatThrownBy(() -> WalSegment.parse("000000010000000000000100", MB16)).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> WalSegment.parse("../../etc/passwd", MB16)).hasMessageContaining("invalid WAL segment name");
    }

    @Test
    void lsnRoundTripsAndOrders() {
        assertThat(Lsn.parse("16/B374D848").toString()).isEqualTo("16/B374D848");
        assertThat(Lsn.parse("1/0").compareTo(Lsn.parse("0/FFFFFFFF"))).isPositive();
        assertThat(Lsn.parse("0/3000028").segmentStart(MB16)).isEqualTo(Lsn.parse("0/3000000"));
        assertThatThrownBy(() -> Lsn.parse("nope")).hasMessageContaining("invalid LSN");
    }
}
