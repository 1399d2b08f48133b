package dev.tidemark.engine.restore;

import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.node.ResolvedPath;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.postgres.ServerQueries;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** A restore beside must not land inside (or around) a live data directory, the engine's own data or the repository. */
final class OverlapGuard {
    /** How long a restore request waits for the protected servers to say where their tablespaces are. */
    private static final Duration ASK_SERVERS = Duration.ofSeconds(5);

    private final Node node;
    private final String repositoryUri;

    OverlapGuard(Node node, String repositoryUri) {
        this.node = node;
        this.repositoryUri = repositoryUri;
    }

    /** The port the database is restored in place on (its own), null when its URL says none. */
    static Integer primaryPort(DatabaseHistory db) {
        try {
            return db.pgUrl() == null ? null : dev.tidemark.engine.postgres.PgConnections.parse(db.pgUrl(), null).port();
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    void refuseOverlap(Path target, Integer port) {
        // compared as written and with every link resolved: a link on the way must not lead into a guarded directory
        List<Path> targets = List.of(target.toAbsolutePath().normalize(), ResolvedPath.of(target));
        List<Path> guarded = new ArrayList<>();
        guarded.add(node.dataDirectory());
        // a base backup of a protected cluster would copy a restore inside its tablespace: the servers are asked all at
        // once, and for a few seconds at most (one that cannot answer in time counts with what its data directory's
        // links say), so an unreachable server does not hold every restore request up by its connect timeout
        ExecutorService ask = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<List<Path>>> asked = new ArrayList<>();
        for (DatabaseHistory db : node.catalog().view().databases()) {
            guarded.add(Path.of(db.pgdata()));
            if (db.active()) {
                asked.add(ask.submit(() -> tablespaceLocations(db)));
                guarded.addAll(linkedLocations(db)); // read here meanwhile, whatever the servers answer
            }
        }
        ask.shutdown();
        long deadline = System.nanoTime() + ASK_SERVERS.toNanos();
        for (Future<List<Path>> locations : asked) {
            try {
                guarded.addAll(locations.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
            } catch (TimeoutException | ExecutionException e) {
                // not in time: the links of its data directory count all the same
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while checking the restore's target", e);
            }
        }
        ask.shutdownNow(); // those not in time are given up on
        if (repositoryUri != null && repositoryUri.startsWith("file:")) {
            guarded.add(Path.of(URI.create(repositoryUri)));
        }
        List<Path> guards = new ArrayList<>();
        for (Path g : guarded) {
            guards.add(g.toAbsolutePath().normalize());
            guards.add(ResolvedPath.of(g));
        }
        Path t = targets.get(0);
        for (DatabaseHistory db : node.catalog().view().databases()) {
            for (DatabaseHistory.Restore r : db.restores()) {
                Integer runningPort = r.inPlace() ? primaryPort(db) : r.port(); // in place: the database's own port
                if (r.inProgress() && port != null && port.equals(runningPort)) {
                    throw CatalogRejection.conflict("port " + port + " is the port of restore " + r.id() + " of " + db.id() + ", which is "
                            + r.status() + ": choose another port");
                }
                if (r.inProgress() && r.targetDir() != null && !r.inPlace()) {
                    Path other = Path.of(r.targetDir()).toAbsolutePath().normalize();
                    if (targets.stream().anyMatch(x -> x.startsWith(other) || other.startsWith(x))) {
                        throw CatalogRejection.conflict("targetDir " + t + " overlaps " + other + ", the target of restore " + r.id()
                                + " of " + db.id() + ", which is " + r.status() + ": choose another directory");
                    }
                }
            }
        }
        for (Path g : guards) {
            if (targets.stream().anyMatch(x -> x.startsWith(g) || g.startsWith(x))) {
                throw new InvalidRequestException("targetDir " + t + " overlaps " + g + " (a database's data directory or tablespace, the"
                        + " engine's data or the repository): choose a directory outside them");
            }
        }
    }

    /** The tablespace locations the links of the data directory base backups read (the standby's, with one) lead to. */
    private static List<Path> linkedLocations(DatabaseHistory h) {
        List<Path> locations = new ArrayList<>();
        if (h.pgdata() != null) {
            try (java.util.stream.Stream<Path> links = Files.list(Path.of(h.pgdata()).resolve("pg_tblspc"))) {
                for (Path link : links.filter(Files::isSymbolicLink).toList()) {
                    Path to = Files.readSymbolicLink(link);
                    locations.add(to.isAbsolute() ? to : link.getParent().resolve(to).normalize());
                }
            } catch (IOException | RuntimeException e) {
                // not readable here: the servers are asked too
            }
        }
        return locations;
    }

    /** The tablespace locations of a protected cluster, as its servers say now; none when they cannot be asked. */
    private List<Path> tablespaceLocations(DatabaseHistory h) {
        List<Path> locations = new ArrayList<>();
        for (String url : Arrays.asList(h.pgUrl(), h.standbyUrl())) {
            if (url == null) {
                continue;
            }
            try (Connection c = node.credentials().server(h.id(), url).open()) {
                for (String location : new ServerQueries(c).tablespaceLocations()) {
                    if (location != null && !location.isBlank() && Path.of(location).isAbsolute()) {
                        locations.add(Path.of(location));
                    }
                }
            } catch (SQLException | IllegalArgumentException e) {
                // the server cannot be asked now: its data directory is still guarded
            }
        }
        return locations;
    }
}
