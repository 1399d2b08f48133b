package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class TableTest {
    @Test
    void byteCountsAndDurationsAreShownForPeopleAndOtherValuesAsGiven() throws Exception {
        JsonNode d = ApiClient.JSON.readTree("""
                {"id":"shop","bytes":1590689792,"storedBytes":512,"lagBytes":0,"retainedBytes":16777216,
                 "window":"P7D","half":"PT36H","odd":"PT1H30M","big":"P2Y","port":5432,"pgdata":"/srv/P7D",
                 "time":"2026-11-30T10:00:00Z","count":1234567}
                """);
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        Table.details(new PrintStream(buffer, true, StandardCharsets.UTF_8), d,
                new String[]{"bytes", "stored", "lag", "retained", "window", "half", "odd", "big", "port", "pgdata", "time", "count"},
                new String[]{"/bytes", "/storedBytes", "/lagBytes", "/retainedBytes", "/window", "/half", "/odd", "/big", "/port",
                        "/pgdata", "/time", "/count"});
        assertThat(buffer.toString(StandardCharsets.UTF_8)).isEqualToNormalizingNewlines("""
                bytes:    1.5 GiB
                stored:   512 B
                lag:      0 B
                retained: 16.0 MiB
                window:   7d
                half:     36h
                odd:      90m
                big:      P2Y
                port:     5432
                pgdata:   /srv/P7D
                time:     2026-11-30T10:00:00Z
                count:    1234567
                """);
    }

    @Test
    void unitsStepAt1024() {
        assertThat(Table.bytes(1023)).isEqualTo("1023 B");
        assertThat(Table.bytes(1024)).isEqualTo("1.0 KiB");
        assertThat(Table.bytes(150L << 30)).isEqualTo("150 GiB");
        assertThat(Table.bytes(3L << 50)).isEqualTo("3.0 PiB");
    }
}
