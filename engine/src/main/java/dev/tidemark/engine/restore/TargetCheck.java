package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.ChildEnvironment;
import dev.tidemark.engine.postgres.PgServer;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The checks of a restore's target made before a byte is written: a path pg_ctl can be given, not inside a data
 * directory, a stopped database for an in-place restore, a free port, and room on the disk. Where a copy beside its
 * source may go is RestoreTarget's rule. Each failed check throws RestoreRejectedException.
 */
final class TargetCheck {
    /**
     * Characters a path must not hold to be handed to pg_ctl: it starts PostgreSQL through a shell, with the data
     * directory and the log file inside double quotes, where $, `, " and \ still act. A path holding them could run
     * commands as the server's user.
     */
    private static final Pattern SHELL_ACTIVE = Pattern.compile("[\"$`\\\\\\p{Cntrl}]");

    private TargetCheck() {
    }

    /** Why pg_ctl could not be given this directory safely (see {@link #SHELL_ACTIVE}), or empty when it can. */
    static Optional<String> shellUnsafe(String what, Path path) {
        Matcher m = SHELL_ACTIVE.matcher(path.toString());
        if (!m.find()) {
            return Optional.empty();
        }
        String c = m.group();
        return Optional.of(what + " " + path + " holds " + (Character.isISOControl(c.charAt(0)) ? "a control character" : "'" + c + "'")
                + ", which PostgreSQL's pg_ctl would hand to a shell: choose a path without \" $ ` \\ or control characters");
    }

    /** The target's path and the port, checked before the manifest is read; existing is the server handle of target. */
    static void placeAndPort(RestoreRunner.Request request, Path target, PgServer existing) {
        shellUnsafe(request.inPlace() ? "the data directory" : "target directory", target).ifPresent(problem -> {
            throw new RestoreRejectedException(problem + " (nothing was written)");
        });
        String name = target.getFileName() == null ? "" : target.getFileName().toString();
        if (name.endsWith(".tidemark-wal") || name.endsWith(".tidemark-restore.log") || name.contains(".tidemark-moved-")) {
            throw new RestoreRejectedException("target " + target + " has a name restores use for their own files beside a target"
                    + " (.tidemark-wal, .tidemark-restore.log, .tidemark-moved-): choose another name (nothing was written)");
        }
        if (!request.inPlace()) {
            for (Path up = target.getParent(); up != null; up = up.getParent()) {
                if (Files.exists(up.resolve("PG_VERSION")) || Files.exists(up.resolve("global").resolve("pg_control"))) {
                    throw new RestoreRejectedException("target " + target + " lies inside the PostgreSQL data directory " + up
                            + ": choose a directory outside every data directory (nothing was written)");
                }
            }
        }
        if (request.inPlace()) {
            if (!Files.isDirectory(target)) {
                throw new RestoreRejectedException("in-place restore: " + target + " is not a directory; give the database's data directory");
            }
            if (existing.isRunning()) {
                throw new RestoreRejectedException("in-place restore refused: PostgreSQL is running on " + target
                        + " (postmaster PID " + existing.postmasterPid().orElseThrow() + "); stop it first (pg_ctl -D " + target + " stop)");
            }
        }
        if (request.port() < 1 || request.port() > 65535) {
            throw new RestoreRejectedException("port " + request.port() + " is not a TCP port (1-65535)");
        }
        if (request.port() < 1024 && !request.inPlace()) {
            throw new RestoreRejectedException("port " + request.port() + " is a privileged port, which PostgreSQL (never run as root)"
                    + " cannot listen on: choose a port from 1024 up (nothing was written)");
        }
        if (!portFree(request.port())) {
            throw new RestoreRejectedException("port " + request.port() + " is in use: choose a free port for the restored server");
        }
    }

    /** That a directory can be made at target, that the server's user can reach it, and that needed bytes fit there. */
    static void room(Path target, PgServer existing, long needed) throws IOException {
        Path existingAncestor = target;
        while (existingAncestor != null && !Files.exists(existingAncestor)) {
            existingAncestor = existingAncestor.getParent();
        }
        if (existingAncestor != null && !Files.isDirectory(existingAncestor)) {
            throw new RestoreRejectedException(existingAncestor + " is a file, not a directory, so no directory can be made under it"
                    + " for " + target + ": choose another path (nothing was written)");
        }
        if (existingAncestor != null && !serverUserCanEnter(existing, existingAncestor)) {
            throw new RestoreRejectedException("the PostgreSQL server's user (" + existing.user().name() + ") cannot enter "
                    + existingAncestor + ", so it could not start a server under " + target + ": choose a directory it can reach "
                    + "(nothing was written)");
        }
        if (existingAncestor != null) {
            FileStore store = Files.getFileStore(existingAncestor);
            if (store.getUsableSpace() < needed) {
                throw new RestoreRejectedException("not enough disk space for the restore under " + existingAncestor + ": need about "
                        + (needed >> 20) + " MiB, " + (store.getUsableSpace() >> 20) + " MiB free; free space or choose another directory");
            }
        }
    }

    /** Whether the server's user can search the directory (and so every directory the engine creates under it). */
    private static boolean serverUserCanEnter(PgServer server, Path directory) {
        try {
            Process p = ChildEnvironment.builder(server.user().command(List.of("test", "-x", directory.toString()))).redirectErrorStream(true)
                    .start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return true; // cannot tell: PostgreSQL's own start says it later
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    private static boolean portFree(int port) {
        for (InetAddress address : new InetAddress[]{InetAddress.getLoopbackAddress()}) {
            try (ServerSocket s = new ServerSocket()) {
                // as PostgreSQL does: connections of a just-stopped server in TIME_WAIT do not make the port busy
                s.setReuseAddress(true);
                s.bind(new InetSocketAddress(address, port));
            } catch (IOException e) {
                return false;
            }
        }
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
