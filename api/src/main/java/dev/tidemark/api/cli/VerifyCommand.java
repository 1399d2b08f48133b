package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** tidemark verify: reads every object a database's window needs and says what is missing or damaged; exit code 1 if anything is. */
@Command(name = "verify", description = "Read every object a database's recovery window needs, whole (base backups and every file's"
        + " checksum, the WAL from the oldest base backup to the window's end, dumps); name what is missing or damaged and what"
        + " part of the window that costs. Exit code 1 when anything is.")
public final class VerifyCommand extends ClientCommand {
    private static final Duration TICK = Duration.ofSeconds(2);

    @Parameters(index = "0", description = "database id (tidemark db list)")
    String db;

    @Override
    public Integer call() throws InterruptedException {
        // no request timeout: the answer comes when every object is read, which takes as long as the repository needs
        CompletableFuture<JsonNode> answer = CompletableFuture.supplyAsync(() -> {
            HttpResponse<InputStream> response = api().stream("/v1/databases/" + enc(db) + "/verify", null);
            try (InputStream in = response.body()) {
                return ApiClient.JSON.readTree(in);
            } catch (IOException e) {
                throw new ApiClient.ApiException(0, "the verification's answer could not be read: " + e.getMessage());
            }
        });
        long started = System.nanoTime();
        JsonNode report = null;
        while (report == null) {
            try {
                report = answer.get(TICK.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                progressOut().println(progressLine((System.nanoTime() - started) / 1_000_000_000L));
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
            }
        }
        JsonNode r = report;
        options().print(out(), r, () -> {
            double seconds = Math.max(0.001, Duration.between(java.time.Instant.parse(r.path("startedAt").asText()),
                    java.time.Instant.parse(r.path("finishedAt").asText())).toMillis() / 1000.0);
            out().printf("%s: window %s; read %d objects, %s in %.1f s (%s/s): %d base backups, %d WAL segments, %d dumps%n",
                    db, r.path("window").asText(), r.path("objects").asLong(), Table.bytes(r.path("bytesRead").asLong()), seconds,
                    Table.bytes((long) (r.path("bytesRead").asLong() / seconds)), r.path("baseBackups").asInt(),
                    r.path("walSegments").asInt(), r.path("dumps").asInt());
            if (r.path("problems").isEmpty()) {
                out().println("intact: every object the window needs is present and reads back whole");
            }
            for (JsonNode p : r.path("problems")) {
                out().println(p.path("object").asText() + " " + p.path("kind").asText().toLowerCase().replaceAll(".*_", "")
                        + ": " + p.path("detail").asText() + "\n  costs: " + p.path("cost").asText());
            }
        });
        return r.path("problems").isEmpty() ? 0 : 1;
    }

    /** One line of how far the server has come, from its progress; the time waited when it cannot say (another node runs it). */
    private String progressLine(long seconds) {
        JsonNode p;
        try {
            p = api().get("/v1/databases/" + enc(db) + "/verify/progress");
        } catch (ApiClient.ApiException e) {
            return String.format("verifying %s: %d s, the server reads every object (its log shows how far)", db, seconds);
        }
        int percent = p.path("percent").asInt();
        return String.format("verifying %s [%-30s] %3d%% %s / about %s, %d of %d objects, %s/s", db, "#".repeat(percent * 30 / 100),
                percent, Table.bytes(p.path("bytesDone").asLong()), Table.bytes(p.path("bytesTotal").asLong()),
                p.path("filesDone").asLong(), p.path("filesTotal").asLong(), Table.bytes((long) p.path("bytesPerSecond").asDouble()));
    }
}
