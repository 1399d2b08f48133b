package dev.tidemark.engine.restore;

import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** The memory settings RecoveryTuning compares, read as PostgreSQL reads them (no unit: 8 kB blocks). */
class RecoveryTuningTest {

    @Test
    void readsMemorySettingsInPostgresUnits() {
        assertThat(RecoveryTuning.bytes("128MB")).contains(128L << 20);
        assertThat(RecoveryTuning.bytes("2GB")).contains(2L << 30);
        assertThat(RecoveryTuning.bytes("524288kB")).contains(512L << 20);
        assertThat(RecoveryTuning.bytes("16384")).as("8 kB blocks").contains(128L << 20);
        assertThat(RecoveryTuning.bytes(" 1 TB ")).contains(1L << 40);
        assertThat(RecoveryTuning.bytes("1.5GB")).as("not read: the server's own stays").isEqualTo(Optional.empty());
        assertThat(RecoveryTuning.bytes("lots")).isEmpty();
    }
}
