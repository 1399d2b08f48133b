package dev.tidemark.engine.postgres;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Whether a process itself holds the listening socket that answers 127.0.0.1:PORT, read from /proc (Linux). The kernel
 * lets one listening socket cover an address and port (PostgreSQL sets no SO_REUSEPORT), so when the postmaster the
 * engine started holds a listener on 127.0.0.1:PORT or 0.0.0.0:PORT, a connection to 127.0.0.1:PORT reaches it and no
 * other process. What postmaster.pid says it listens on is no such proof: the postmaster writes it even when another
 * process held 127.0.0.1:PORT first and only its other addresses were bound.
 */
public final class LoopbackListener {
    private static final String LISTEN = "0A";

    private LoopbackListener() {
    }

    /** True when process pid has a listening TCP socket on 127.0.0.1:port or 0.0.0.0:port; false when it cannot be told. */
    public static boolean heldBy(long pid, int port) {
        try {
            Path net = Path.of("/proc", Long.toString(pid), "net");
            Set<String> inodes = listeningInodes(net.resolve("tcp"), port);
            inodes.addAll(listeningInodes(net.resolve("tcp6"), port));
            if (inodes.isEmpty()) {
                return false;
            }
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "fd"))) {
                for (Path fd : fds) {
                    String link;
                    try {
                        link = Files.readSymbolicLink(fd).toString();
                    } catch (IOException closedMeanwhile) {
                        continue;
                    }
                    if (link.startsWith("socket:[") && inodes.contains(link.substring(8, link.length() - 1))) {
                        return true;
                    }
                }
            }
            return false;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * The inodes of the listening sockets on 127.0.0.1:port or 0.0.0.0:port in a /proc/.../net/tcp table, or on those as
     * IPv4-mapped IPv6 addresses in a tcp6 table. Never "::": PostgreSQL's IPv6 socket is IPV6_V6ONLY and covers no IPv4.
     */
    static Set<String> listeningInodes(Path table, int port) throws IOException {
        if (!Files.exists(table)) {
            return new HashSet<>();
        }
        String portHex = String.format(Locale.ROOT, "%04X", port);
        // the address as the kernel prints it: 32-bit words in host byte order (little-endian here, big-endian elsewhere)
        Set<String> addresses = new HashSet<>();
        for (String v4 : List.of("0100007F", "7F000001", "00000000")) {
            addresses.add(v4 + ":" + portHex);
        }
        for (String mapped : List.of("0000000000000000FFFF00000100007F", "00000000000000000000FFFF7F000001",
                "0000000000000000FFFF000000000000", "00000000000000000000FFFF00000000")) {
            addresses.add(mapped + ":" + portHex);
        }
        Set<String> inodes = new HashSet<>();
        List<String> lines = Files.readAllLines(table);
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 9 && f[3].equals(LISTEN) && addresses.contains(f[1].toUpperCase(Locale.ROOT))) {
                inodes.add(f[9]);
            }
        }
        return inodes;
    }
}
