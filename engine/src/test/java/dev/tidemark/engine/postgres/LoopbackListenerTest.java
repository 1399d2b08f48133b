package dev.tidemark.engine.postgres;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

import static org.assertj.core.api.Assertions.assertThat;

/** Who holds the listener of 127.0.0.1:PORT, read from /proc: the proof a restored copy gets its password on. */
class LoopbackListenerTest {

    @Test
    void onlyTheProcessHoldingTheListenerIsTrusted() throws Exception {
        long me = ProcessHandle.current().pid();
        try (ServerSocket loopback = new ServerSocket()) {
            loopback.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
            int port = loopback.getLocalPort();
            assertThat(LoopbackListener.heldBy(me, port)).as("this JVM holds 127.0.0.1:%s", port).isTrue();
            assertThat(LoopbackListener.heldBy(1, port)).as("another process does not").isFalse();
            loopback.close();
            assertThat(LoopbackListener.heldBy(me, port)).as("closed: no one").isFalse();
        }
        try (ServerSocket elsewhere = new ServerSocket()) {
            elsewhere.bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));
            assertThat(LoopbackListener.heldBy(me, elsewhere.getLocalPort())).as("::1 is not 127.0.0.1").isFalse();
        }
    }
}
