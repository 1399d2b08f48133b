package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.postgres.WalSegment;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;

/**
 * How long an aggregate with many WAL events takes to load (snapshots every 200 events keep it flat), and how long
 * the catalog takes to open (the in-memory view replays every event), and how long a rebuild of the read-model rows takes. Not part of the suite:
 * {@code ./mvnw -pl engine test -Dtest=CatalogLoadBenchmark -Dgroups=benchmark -Dtidemark.excluded.groups=none
 * -Dsurefire.failIfNoSpecifiedTests=false [-Dbench.events=100000]}. Results: docs/benchmarks.md.
 */
@Tag("benchmark")
class CatalogLoadBenchmark {
    private static final int EVENTS = Integer.getInteger("bench.events", 100_000);

    @Test
    void loadTimeWithManyWalEvents(@TempDir Path dir) {
        long t0 = System.nanoTime();
        try (Catalog catalog = Catalog.open(new CatalogSettings(dir, null, null, null, null, null, Clock.systemUTC()))) {
            catalog.send(new Commands.RegisterDatabase("db", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null,
                    Policy.defaults(), Instant.now()), "bench");
            for (long n = 1; n <= EVENTS; n++) {
                String segment = new WalSegment(1, n, 16L << 20).name();
                catalog.send(new Commands.RecordWal("db", "7300000000000000001-15", 1, segment, segment, Instant.now(), Instant.now(),
                        16L << 20, new WalSegment(1, n + 1, 16L << 20).start().toString()), "bench");
            }
        }
        long written = System.nanoTime();
        System.out.printf("wrote %,d WAL events in %.1f s (%.0f commands/s)%n", EVENTS, (written - t0) / 1e9,
                EVENTS / ((written - t0) / 1e9));
        long o0 = System.nanoTime();
        try (Catalog catalog = Catalog.open(new CatalogSettings(dir, null, null, null, null, null, Clock.systemUTC()))) {
            long o1 = System.nanoTime();
            System.out.printf("opened the catalog (read model replays every event) in %.0f ms%n", (o1 - o0) / 1e6);
            for (int i = 0; i < 5; i++) {
                String segment = new WalSegment(1, 5, 16L << 20).name();
                long c0 = System.nanoTime();
                catalog.send(new Commands.RecordWal("db", "7300000000000000001-15", 1, segment, segment, Instant.now(), Instant.now(),
                        16L << 20, new WalSegment(1, 6, 16L << 20).start().toString()), "bench");
                System.out.printf("command on the aggregate (load from the snapshot + at most 200 events, decide): %.1f ms%n",
                        (System.nanoTime() - c0) / 1e6);
            }
            long r0 = System.nanoTime();
            boolean current = catalog.rebuildRows(java.time.Duration.ofMinutes(30));
            System.out.printf("rebuilt the read-model rows from %,d events in %.1f s (current: %s)%n", EVENTS + 6,
                    (System.nanoTime() - r0) / 1e9, current);
        }
    }
}
