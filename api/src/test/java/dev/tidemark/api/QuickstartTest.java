package dev.tidemark.api;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The README's first command, as a newcomer runs it: the whole verified round trip, then nothing left behind. */
class QuickstartTest {

    @Test
    void theQuickstartPassesAndCleansUp(@TempDir Path tmp) throws Exception {
        dev.tidemark.engine.postgres.ServerUser.detect().ownOne(tmp); // reachable by the user PostgreSQL runs as
        Path dir = tmp.resolve("qs");
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        PrintStream out = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Tidemark.commandLine().execute("quickstart", "--dir", dir.toString(), "--port", Integer.toString(port));
        } finally {
            System.setOut(out);
        }
        String text = captured.toString(StandardCharsets.UTF_8);
        assertThat(code).as(text).isZero();
        assertThat(text).contains("identical: the restore brought back exactly the moment asked for", "Quickstart passed")
                .contains("Tidemark quickstart in " + dir);
        assertThat(Files.exists(dir)).as("cleaned up").isFalse();

        // a directory it did not make is bad input: exit 2, nothing in it touched
        Path mine = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(mine.resolve("keep.txt"), "mine");
        assertThat(Tidemark.commandLine().execute("quickstart", "--dir", mine.toString())).isEqualTo(2);
        assertThat(Files.readString(mine.resolve("keep.txt"))).isEqualTo("mine");
    }
}
