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
    void wideCharactersKeepTheColumnsAligned() throws Exception {
        JsonNode rows = ApiClient.JSON.readTree("""
                [{"id":"r1","dir":"/srv/数据库","port":5499},{"id":"r2","dir":"/srv/plain","port":5500},
                 {"id":"r3","dir":"/srv/café","port":5501}]
                """);
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        Table.print(new PrintStream(buffer, true, StandardCharsets.UTF_8), rows, new String[]{"ID", "DIRECTORY", "PORT"},
                new String[]{"/id", "/dir", "/port"});
        assertThat(buffer.toString(StandardCharsets.UTF_8)).isEqualToNormalizingNewlines("""
                ID  DIRECTORY    PORT
                r1  /srv/数据库  5499
                r2  /srv/plain   5500
                r3  /srv/café    5501
                """);
        assertThat(Table.columns("e\u0301")).as("a combining accent takes no column").isEqualTo(1);
    }

    @Test
    void aDumpOfAllDatabasesSaysSoUntilItListsThem() throws Exception {
        JsonNode running = ApiClient.JSON.readTree("{\"id\":\"dump-1\",\"status\":\"running\",\"databases\":[]}");
        assertThat(BackupCommand.allDatabasesNamed(running).path("databases").asText()).isEqualTo("all");
        assertThat(running.path("databases").isArray()).as("the document itself (--json) is unchanged").isTrue();
        JsonNode named = ApiClient.JSON.readTree("{\"id\":\"dump-2\",\"databases\":[\"shop\"]}");
        assertThat(BackupCommand.allDatabasesNamed(named)).isSameAs(named);
    }

    @Test
    void unitsStepAt1024() {
        assertThat(Table.bytes(1023)).isEqualTo("1023 B");
        assertThat(Table.bytes(1024)).isEqualTo("1.0 KiB");
        assertThat(Table.bytes(150L << 30)).isEqualTo("150 GiB");
        assertThat(Table.bytes(3L << 50)).isEqualTo("3.0 PiB");
    }
}
