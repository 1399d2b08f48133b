package dev.tidemark.api.server;

import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.Operations;
import dev.tidemark.engine.operations.StreamingView;
import dev.tidemark.engine.operations.WindowView;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The metrics of a fleet: the gauges follow every refresh, a database's failed jobs are counted when it is first seen and
 * then once per recount interval, not at every refresh (three catalog reads per database every 5 s were most of an idle
 * fleet's metrics cost).
 */
class MetricsTest {
    private final List<DatabaseView> databases = new CopyOnWriteArrayList<>();
    private final List<BackupView> backups = new CopyOnWriteArrayList<>();
    private final AtomicInteger jobReads = new AtomicInteger();
    private final Operations engine = (Operations) Proxy.newProxyInstance(Operations.class.getClassLoader(),
            new Class<?>[]{Operations.class}, (proxy, method, args) -> switch (method.getName()) {
                case "databases" -> List.copyOf(databases);
                case "baseBackups" -> {
                    jobReads.incrementAndGet();
                    yield List.copyOf(backups);
                }
                case "dumps", "restores" -> {
                    jobReads.incrementAndGet();
                    yield List.of();
                }
                case "takenOver" -> java.util.Optional.empty();
                case "toString" -> "fake engine";
                case "hashCode" -> 0;
                case "equals" -> proxy == args[0];
                default -> throw new UnsupportedOperationException(method.getName());
            });

    @Test
    void failedJobsAreCountedWhenFirstSeenThenOncePerRecountInterval() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        databases.add(database("a", 1));
        Metrics metrics = new Metrics(engine, registry, Duration.ofMillis(400));
        assertThat(jobReads.get()).as("first seen: counted at once").isEqualTo(3);
        assertThat(failures(registry, "a")).isZero();

        backups.add(failed("base-1"));
        databases.add(database("b", 2));
        metrics.refresh();
        assertThat(jobReads.get()).as("a is not read again within the interval, b (new) is").isEqualTo(6);
        assertThat(failures(registry, "a")).as("a's failure waits for the recount").isZero();
        assertThat(failures(registry, "b")).isEqualTo(1);
        assertThat(registry.get("tidemark_wal_lag_bytes").tag("database", "b").gauge().value())
                .as("the gauges follow every refresh").isEqualTo(2);

        Thread.sleep(450);
        metrics.refresh();
        assertThat(jobReads.get()).as("both recounted after the interval").isEqualTo(12);
        assertThat(failures(registry, "a")).isEqualTo(1);
    }

    @Test
    void aDatabaseThatLeavesAndComesBackIsCountedAtOnce() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        databases.add(database("a", 1));
        Metrics metrics = new Metrics(engine, registry, Duration.ofHours(1));
        databases.clear();
        metrics.refresh();
        backups.add(failed("base-2"));
        databases.add(database("a", 1));
        metrics.refresh();
        assertThat(failures(registry, "a")).isEqualTo(1);
    }

    @Test
    void aStreamOfAnotherNodeHasNoSeriesOfItsOwnHere() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        databases.add(database("mine", 5));
        Instant t = Instant.parse("2026-12-05T00:00:00Z");
        databases.add(new DatabaseView("theirs", "postgresql://127.0.0.1/postgres", null, null, "protected", t, null,
                new WindowView(null, null, null, new ArrayList<>()),
                new StreamingView("streamed by node-b", "c1", 1, "0/3000000", t, null, null, null, null, null, false, null, null, null),
                null, null, null, null));
        new Metrics(engine, registry, Duration.ofHours(1));
        for (String name : List.of("tidemark_wal_lag_bytes", "tidemark_wal_lag_seconds", "tidemark_wal_retained_bytes",
                "tidemark_wal_stream_failing", "tidemark_wal_synchronous_stall_seconds")) {
            assertThat(registry.find(name).tag("database", "theirs").gauge()).as(name + " of another node's stream").isNull();
            assertThat(registry.find(name).tag("database", "mine").gauge()).as(name + " of this node's stream").isNotNull();
        }
        assertThat(registry.find("tidemark_window_start_seconds").tag("database", "theirs").gauge()).isNotNull();
        assertThat(registry.get("tidemark_repository_taken_over").gauge().value()).isZero();
    }

    private static double failures(SimpleMeterRegistry registry, String database) {
        return registry.get("tidemark_failures").tag("database", database).tag("kind", "base_backup").functionCounter().count();
    }

    private static BackupView failed(String id) {
        Instant t = Instant.parse("2026-12-05T00:00:00Z");
        return new BackupView(id, "failed", "manual", t, t, t, null, null, null, null, null, null, null, "broken", null, null);
    }

    private static DatabaseView database(String id, long lagBytes) {
        Instant t = Instant.parse("2026-12-05T00:00:00Z");
        return new DatabaseView(id, "postgresql://127.0.0.1/postgres", null, null, "protected", t, null,
                new WindowView(null, null, null, new ArrayList<>()),
                new StreamingView("streaming", null, 1, "0/0", null, lagBytes, 0.0, 0L, 0L, null, false, null, null, 0.0),
                null, null, null, null);
    }
}
