package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.DatabaseEvent.DumpCompleted;
import dev.tidemark.engine.catalog.api.DatabaseEvent.DumpRequested;
import dev.tidemark.engine.catalog.api.DatabaseEvent.DumpStarted;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Which server a dump was read from: DumpCompleted says it when the dump moved to the primary; older events leave it out. */
class DumpSourceEventTest {
    private static final Instant AT = Instant.parse("2026-12-01T10:00:00Z");

    @Test
    void aDumpThatStartedOnTheStandbyAndEndedOnThePrimaryIsRecordedAsReadFromThePrimary() {
        Histories h = Histories.registered(AT);
        h.apply(new DumpRequested("db", "d1", List.of(), "manual", AT));
        h.apply(new DumpStarted("db", "d1", true, AT.plusSeconds(1)));
        h.apply(new DumpCompleted("db", "d1", List.of(), "k", AT.plusSeconds(30), false));
        assertThat(h.get().dump("d1").orElseThrow().fromStandby()).isFalse();
    }

    @Test
    void aDumpCompletedRecordedBeforeTheFieldExistedReadsAndKeepsWhatDumpStartedSaid() throws Exception {
        DumpCompleted old = Catalog.json().readValue("""
                {"databaseId":"db","dumpId":"d1","archives":[],"manifestKey":"k","at":"2026-12-01T10:00:30Z"}
                """, DumpCompleted.class);
        assertThat(old.fromStandby()).isNull();
        Histories h = Histories.registered(AT);
        h.apply(new DumpRequested("db", "d1", List.of(), "manual", AT));
        h.apply(new DumpStarted("db", "d1", true, AT.plusSeconds(1)));
        h.apply(old);
        assertThat(h.get().dump("d1").orElseThrow().fromStandby()).isTrue();
        assertThat(Catalog.json().writeValueAsString(new DumpCompleted("db", "d2", List.of(), "k", AT, true)))
                .contains("\"fromStandby\":true");
    }
}
