package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CLI's --wait: each GET asks the server to wait for the change, a server that does not is polled with pauses, and a
 * restore's replay is shown against its target while PostgreSQL replays.
 */
class ProgressTest {
    @Test
    void aReplayIsShownAgainstItsTargetInBytesAndTime() throws Exception {
        Iterator<JsonNode> views = List.of(
                ApiClient.JSON.readTree("""
                        {"status":"running","progress":{"phase":"replaying WAL","bytesDone":104857600,"bytesTotal":209715200,
                         "percent":50,"bytesPerSecond":0,"replay":{"lsn":"0/6800000","targetLsn":"0/CC00000",
                         "lastCommitAt":"2026-12-05T03:23:10Z","targetTime":"2026-12-05T03:24:00Z"}}}
                        """),
                ApiClient.JSON.readTree("""
                        {"status":"running","progress":{"phase":"replaying WAL","bytesDone":1,"bytesTotal":2,"percent":50,
                         "replay":{"lsn":"0/3000028","targetLsn":"0/9000000","lastCommitAt":null,"targetTime":null}}}
                        """),
                ApiClient.JSON.readTree("{\"status\":\"completed\"}")).iterator();
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        Progress.await(seconds -> views.next(), "restore", new PrintStream(buffer, true, StandardCharsets.UTF_8));
        String shown = buffer.toString(StandardCharsets.UTF_8);
        assertThat(shown).contains("replaying WAL").contains("100 MiB / 200 MiB")
                .contains("commits up to 2026-12-05T03:23:10Z of 2026-12-05T03:24:00Z (LSN 0/6800000 of 0/CC00000)");
        assertThat(Progress.replayed(ApiClient.JSON.readTree("{\"lsn\":\"0/3000028\",\"targetLsn\":\"0/9000000\"}")))
                .isEqualTo(", no commit yet of the latest (LSN 0/3000028 of 0/9000000)");
        assertThat(Progress.replayed(ApiClient.JSON.readTree("{}").path("replay"))).isEmpty();
    }

    @Test
    void everyPollAsksTheServerToWaitAndAnAnswerThatDidNotWaitIsFollowedByAPause() throws Exception {
        JsonNode running = ApiClient.JSON.readTree("{\"status\":\"running\"}");
        JsonNode completed = ApiClient.JSON.readTree("{\"status\":\"completed\"}");
        List<Integer> asked = new ArrayList<>();
        Iterator<JsonNode> views = List.of(running, running, running, running, completed).iterator();
        long started = System.nanoTime();
        JsonNode last = Progress.await(seconds -> {
            asked.add(seconds);
            return views.next();
        }, "base backup", new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        long tookMillis = (System.nanoTime() - started) / 1_000_000;
        assertThat(last.path("status").asText()).isEqualTo("completed");
        assertThat(asked).as("every GET asks the server to wait for the change").containsOnly(Progress.WAIT_SECONDS).hasSize(5);
        // an old server answers at once with nothing changed: three pauses of at least 20 ms, not a busy loop
        assertThat(tookMillis).isGreaterThanOrEqualTo(60);
    }

    @Test
    void thePollIntervalGrowsWithTheTimeWaited() {
        assertThat(Progress.pollInterval(0)).isEqualTo(20);
        assertThat(Progress.pollInterval(300)).isEqualTo(20);
        assertThat(Progress.pollInterval(1500)).isEqualTo(75); // a 1.5 s backup is seen done within 75 ms
        assertThat(Progress.pollInterval(10_000)).isEqualTo(500);
        assertThat(Progress.pollInterval(3_600_000)).isEqualTo(1000);
    }
}
