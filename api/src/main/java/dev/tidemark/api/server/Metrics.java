package dev.tidemark.api.server;

import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.Operations;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * Prometheus gauges per protected database, refreshed every 5 s from the engine: age of the last base backup and dump,
 * window start and end, WAL lag in bytes and seconds, WAL kept by the slot, and failures by kind.
 */
@Component
public class Metrics {
    private final Operations engine;
    private final MultiGauge backupAge;
    private final MultiGauge dumpAge;
    private final MultiGauge windowStart;
    private final MultiGauge windowEnd;
    private final MultiGauge lagBytes;
    private final MultiGauge lagSeconds;
    private final MultiGauge retained;
    private final MultiGauge failures;

    public Metrics(Operations engine, MeterRegistry registry) {
        this.engine = engine;
        backupAge = MultiGauge.builder("tidemark_last_base_backup_age_seconds").description("seconds since the last completed base backup")
                .register(registry);
        dumpAge = MultiGauge.builder("tidemark_last_dump_age_seconds").description("seconds since the last completed dump").register(registry);
        windowStart = MultiGauge.builder("tidemark_window_start_seconds").description("recovery window start, epoch seconds").register(registry);
        windowEnd = MultiGauge.builder("tidemark_window_end_seconds").description("recovery window end, epoch seconds").register(registry);
        lagBytes = MultiGauge.builder("tidemark_wal_lag_bytes").description("WAL written by the server, not yet durable").register(registry);
        lagSeconds = MultiGauge.builder("tidemark_wal_lag_seconds").description("server time minus durable time").register(registry);
        retained = MultiGauge.builder("tidemark_wal_retained_bytes").description("WAL the replication slot keeps on the server")
                .register(registry);
        failures = MultiGauge.builder("tidemark_failures").description("failed jobs recorded in the catalog, by kind").register(registry);
        refresh();
    }

    @Scheduled(fixedDelay = 5_000)
    public void refresh() {
        // a deregistered database is no longer protected: its series end (alerts on them would fire for nothing)
        List<DatabaseView> databases = engine.databases().stream().filter(d -> !"deregistered".equals(d.status())).toList();
        Instant now = Instant.now();
        backupAge.register(rows(databases, d -> d.lastBaseBackup() == null || d.lastBaseBackup().completedAt() == null ? Double.NaN
                : Duration.between(d.lastBaseBackup().completedAt(), now).toSeconds()), true);
        dumpAge.register(rows(databases, d -> d.lastDump() == null || d.lastDump().completedAt() == null ? Double.NaN
                : Duration.between(d.lastDump().completedAt(), now).toSeconds()), true);
        windowStart.register(rows(databases, d -> d.window().start() == null ? Double.NaN : d.window().start().getEpochSecond()), true);
        windowEnd.register(rows(databases, d -> d.window().end() == null ? Double.NaN : d.window().end().getEpochSecond()), true);
        lagBytes.register(rows(databases, d -> d.streaming().lagBytes()), true);
        lagSeconds.register(rows(databases, d -> d.streaming().lagSeconds()), true);
        retained.register(rows(databases, d -> d.streaming().retainedBytes()), true);
        List<MultiGauge.Row<?>> failed = new ArrayList<>();
        for (DatabaseView d : databases) {
            long backups = engine.baseBackups(d.id()).stream().filter(b -> "failed".equals(b.status())).count();
            long dumps = engine.dumps(d.id()).stream().filter(b -> "failed".equals(b.status())).count();
            long restores = engine.restores(d.id()).stream().filter(b -> "failed".equals(b.status())).count();
            failed.add(MultiGauge.Row.of(Tags.of("database", d.id(), "kind", "base_backup"), backups));
            failed.add(MultiGauge.Row.of(Tags.of("database", d.id(), "kind", "dump"), dumps));
            failed.add(MultiGauge.Row.of(Tags.of("database", d.id(), "kind", "restore"), restores));
            failed.add(MultiGauge.Row.of(Tags.of("database", d.id(), "kind", "wal_stream"),
                    d.streaming().lastError() == null ? 0 : 1));
        }
        failures.register(failed, true);
    }

    private static List<MultiGauge.Row<?>> rows(List<DatabaseView> databases, ToDoubleFunction<DatabaseView> value) {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        for (DatabaseView d : databases) {
            rows.add(MultiGauge.Row.of(Tags.of("database", d.id()), value.applyAsDouble(d)));
        }
        return rows;
    }
}
