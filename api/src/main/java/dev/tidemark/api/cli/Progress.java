package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;

/** Waits for a job to finish, drawing a progress bar on a terminal (plain lines otherwise). */
final class Progress {
    private Progress() {
    }

    /**
     * How long each GET asks the server to wait for the job's status to change (?waitSeconds): the answer comes the moment
     * the job starts or ends, and otherwise once a second, for the progress drawn meanwhile.
     */
    static final int WAIT_SECONDS = 1;

    /** A job's view from the server; waitSeconds above 0 lets the server hold the answer until the status changes. */
    @FunctionalInterface
    interface Poll {
        JsonNode get(int waitSeconds);
    }

    /**
     * Asks until the status is no longer requested/running; returns the last view. Each GET waits on the server for the
     * status to change, so the end is seen as soon as it is recorded, without polls in between. A server that answers at
     * once with the status unchanged (one from before ?waitSeconds) is polled as before: after a pause of a twentieth of
     * the time waited so far.
     */
    static JsonNode await(Poll poll, String what, PrintStream out) throws InterruptedException {
        boolean terminal = System.console() != null;
        String lastLine = "";
        JsonNode view = poll.get(WAIT_SECONDS);
        long started = System.nanoTime();
        while (view.path("status").asText().matches("requested|running")) {
            JsonNode p = view.path("progress");
            int queued = view.path("queuePosition").asInt(0); // waiting for its turn under the engine's job limit
            String phase = queued > 0 ? "queued" : p.path("phase").asText(view.path("status").asText());
            long done = p.path("bytesDone").asLong();
            long total = p.path("bytesTotal").asLong();
            int percent = p.path("percent").asInt();
            double rate = p.path("bytesPerSecond").asDouble();
            String speed = rate >= 1 ? " " + Table.bytes((long) rate) + "/s" : ""; // no rate in phases that move no bytes
            speed += replayed(p.path("replay"));
            String line = total > 0
                    ? String.format("%s %-10s [%-30s] %3d%% %s / %s%s", what, phase, "#".repeat(Math.min(30, percent * 30 / 100)),
                    percent, Table.bytes(done), Table.bytes(total), speed)
                    : done > 0 || p.path("filesTotal").asLong() > 0
                    ? String.format("%s %-10s %s written, %d of %d done%s", what, phase, Table.bytes(done), p.path("filesDone").asLong(),
                    p.path("filesTotal").asLong(), speed)
                    : queued > 0 ? String.format("%s %-10s %d in line (the engine runs a few jobs at once)", what, phase, queued)
                    : String.format("%s %-10s ...", what, phase);
            if (terminal) {
                out.print("\r" + line + " ".repeat(Math.max(0, lastLine.length() - line.length())));
                out.flush();
            } else if (!line.equals(lastLine) && !phase.equals(lastPhase(lastLine))) {
                out.println(line);
            }
            lastLine = line;
            String status = view.path("status").asText();
            long asked = System.nanoTime();
            view = poll.get(WAIT_SECONDS);
            if (view.path("status").asText().equals(status) && System.nanoTime() - asked < WAIT_SECONDS * 500_000_000L) {
                // answered at once, nothing changed: a server that does not wait; ask again after a pause
                Thread.sleep(pollInterval((System.nanoTime() - started) / 1_000_000));
            }
        }
        if (!lastLine.isEmpty() && "completed".equals(view.path("status").asText())) {
            // the last poll may have caught the bar short of the end: a completed job is drawn at 100%
            String line = String.format("%s %-10s [%s] 100%%", what, "done", "#".repeat(30));
            out.print(terminal ? "\r" + line + " ".repeat(Math.max(0, lastLine.length() - line.length())) : line);
            out.println();
        } else if (terminal && !lastLine.isEmpty()) {
            out.println();
        }
        return view;
    }

    /**
     * Copies a download, drawing a bar against the expected size (about; 0 when unknown) on a terminal, at most twice a
     * second; nothing but the result elsewhere. Returns the bytes copied.
     */
    static long copy(InputStream in, OutputStream out, long expected, String what, PrintStream progress) throws IOException {
        boolean terminal = System.console() != null;
        byte[] buffer = new byte[1 << 16];
        long total = 0;
        long lastDrawn = System.nanoTime();
        long started = lastDrawn;
        for (int n; (n = in.read(buffer)) > 0; ) {
            out.write(buffer, 0, n);
            total += n;
            long now = System.nanoTime();
            if (terminal && now - lastDrawn > 500_000_000L) {
                lastDrawn = now;
                double rate = total / Math.max(1e-3, (now - started) / 1e9);
                int percent = expected > 0 ? (int) Math.min(99, total * 100 / expected) : 0;
                progress.print(expected > 0
                        ? String.format("\r%s [%-30s] %3d%% %s / about %s %s/s   ", what, "#".repeat(percent * 30 / 100), percent,
                        Table.bytes(total), Table.bytes(expected), Table.bytes((long) rate))
                        : String.format("\r%s %s %s/s   ", what, Table.bytes(total), Table.bytes((long) rate)));
                progress.flush();
            }
        }
        if (terminal && lastDrawn != started) {
            progress.println(String.format("\r%s [%s] 100%% %s", what, "#".repeat(30), Table.bytes(total)) + " ".repeat(30));
        }
        return total;
    }

    /**
     * How long to wait before the next poll of a server that does not wait itself, after waitedMillis: a twentieth of the
     * time waited so far, from 20 ms up to a second. The end of a job is seen within about 5% of its time (a 1.5 s backup:
     * under 40 ms late on average, where a fixed 200 ms made it 100 ms), and a long one is still polled at most once a second.
     */
    static long pollInterval(long waitedMillis) {
        return Math.max(20, Math.min(1000, waitedMillis / 20));
    }

    /** A restore's replay against its target: the last commit replayed and the target time, and the LSNs. */
    static String replayed(JsonNode replay) {
        if (replay.isMissingNode() || replay.isNull()) {
            return "";
        }
        String at = replay.path("lastCommitAt").isTextual() ? "commits up to " + replay.path("lastCommitAt").asText() : "no commit yet";
        String target = replay.path("targetTime").isTextual() ? replay.path("targetTime").asText() : "the latest";
        return ", " + at + " of " + target + " (LSN " + replay.path("lsn").asText() + " of " + replay.path("targetLsn").asText() + ")";
    }

    private static String lastPhase(String line) {
        String[] parts = line.trim().split("\\s+");
        return parts.length > 1 ? parts[1] : "";
    }
}
