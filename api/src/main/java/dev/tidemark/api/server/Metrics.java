package dev.tidemark.api.server;

import dev.tidemark.engine.operations.DatabaseView;
import dev.tidemark.engine.operations.StreamingView;
import dev.tidemark.engine.operations.Operations;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleFunction;

/**
 * Prometheus series per protected database, refreshed every 5 s from the engine: age of the last base backup and dump
 * (since registration while there is none, so a database never backed up alerts as its age grows), window start and
 * end, WAL lag in bytes and seconds (while the stream is not streaming, the seconds since the newest durable WAL: the
 * lag grows while the primary is down), WAL kept by the slot, whether the stream is failing, how long WAL has waited to
 * become durable past the stall warning in synchronous mode (the server's commits wait meanwhile), and a counter of failed
 * jobs by kind ({@code tidemark_failures_total}: it only grows, so {@code increase()} alert rules work; counted when a
 * database is first seen, then every {@link #FAILURE_RECOUNT}).
 */
@Component
public class Metrics {
    /**
     * A database's failed jobs are counted when it is first seen, then at most this often: a failed job shows in
     * {@code tidemark_failures_total} within a minute, and a fleet's metrics do not read every job list every 5 s.
     */
    static final Duration FAILURE_RECOUNT = Duration.ofSeconds(60);
    private final Operations engine;
    private final MultiGauge backupAge;
    private final MultiGauge dumpAge;
    private final MultiGauge windowStart;
    private final MultiGauge windowEnd;
    private final MultiGauge lagBytes;
    private final MultiGauge lagSeconds;
    private final MultiGauge retained;
    private final MultiGauge streamFailing;
    private final MultiGauge synchronousStall;
    private final MeterRegistry registry;
    /** Failed jobs seen per database and kind (ids): the counters only grow, also when retention removes a failed job. */
    private final Map<String, Set<String>> failedSeen = new ConcurrentHashMap<>();
    private final Map<String, FunctionCounter> failureCounters = new ConcurrentHashMap<>();
    /** When (System.nanoTime) each database's failed jobs were last counted. */
    private final Map<String, Long> countedAt = new ConcurrentHashMap<>();
    private final long recountNanos;

    @org.springframework.beans.factory.annotation.Autowired
    public Metrics(Operations engine, MeterRegistry registry) {
        this(engine, registry, FAILURE_RECOUNT);
    }

    /** recount: how often a database's failed jobs are counted again once counted (the gauges follow every refresh). */
    Metrics(Operations engine, MeterRegistry registry, Duration recount) {
        this.engine = engine;
        this.registry = registry;
        this.recountNanos = recount.toNanos();
        backupAge = MultiGauge.builder("tidemark_last_base_backup_age_seconds").description("seconds since the last completed base backup")
                .register(registry);
        dumpAge = MultiGauge.builder("tidemark_last_dump_age_seconds").description("seconds since the last completed dump").register(registry);
        windowStart = MultiGauge.builder("tidemark_window_start_seconds").description("recovery window start, epoch seconds").register(registry);
        windowEnd = MultiGauge.builder("tidemark_window_end_seconds").description("recovery window end, epoch seconds").register(registry);
        lagBytes = MultiGauge.builder("tidemark_wal_lag_bytes").description("WAL written by the server, not yet durable").register(registry);
        lagSeconds = MultiGauge.builder("tidemark_wal_lag_seconds").description("server time minus durable time").register(registry);
        retained = MultiGauge.builder("tidemark_wal_retained_bytes").description("WAL the replication slot keeps on the server")
                .register(registry);
        streamFailing = MultiGauge.builder("tidemark_wal_stream_failing").description("1 while the WAL stream's last attempt failed")
                .register(registry);
        synchronousStall = MultiGauge.builder("tidemark_wal_synchronous_stall_seconds")
                .description("synchronous mode: seconds WAL has waited to become durable, once past the stall warning (commits wait); else 0")
                .register(registry);
        io.micrometer.core.instrument.Gauge.builder("tidemark_repository_taken_over", engine, e -> e.takenOver().isPresent() ? 1 : 0)
                .description("1 once the engines of another catalog took this engine's repository over: it writes nothing more")
                .register(registry);
        refresh();
    }

    @Scheduled(fixedDelay = 5_000)
    public void refresh() {
        // a deregistered database is no longer protected: its series end (alerts on them would fire for nothing)
        List<DatabaseView> databases = engine.databases().stream().filter(d -> !"deregistered".equals(d.status())).toList();
        Instant now = Instant.now();
        backupAge.register(rows(databases, d -> age(d.lastBaseBackup() == null ? null : d.lastBaseBackup().completedAt(), d, now)), true);
        dumpAge.register(rows(databases, d -> age(d.lastDump() == null ? null : d.lastDump().completedAt(), d, now)), true);
        windowStart.register(rows(databases, d -> d.window().start() == null ? Double.NaN : d.window().start().getEpochSecond()), true);
        windowEnd.register(rows(databases, d -> d.window().end() == null ? Double.NaN : d.window().end().getEpochSecond()), true);
        lagBytes.register(streamRows(databases, StreamingView::lagBytes), true);
        lagSeconds.register(rows(databases.stream().filter(d -> d.streaming().lagSeconds() != null).toList(), d -> lagSeconds(d, now)), true);
        retained.register(streamRows(databases, StreamingView::retainedBytes), true);
        streamFailing.register(streamRows(databases, s -> s.lagBytes() == null ? null : s.lastError() == null ? 0 : 1), true);
        synchronousStall.register(streamRows(databases, StreamingView::stalledSeconds), true);
        long nanos = System.nanoTime();
        for (DatabaseView d : databases) {
            // three catalog reads per database: at once for a database not counted yet, then once per recount interval
            // (every 5 s, they were most of an idle fleet's metrics cost: 60 queries a second at 100 databases)
            Long last = countedAt.get(d.id());
            if (last != null && nanos - last < recountNanos) {
                continue;
            }
            countedAt.put(d.id(), nanos);
            count(d.id(), "base_backup", engine.baseBackups(d.id()).stream().filter(b -> "failed".equals(b.status())).map(b -> b.id()).toList());
            count(d.id(), "dump", engine.dumps(d.id()).stream().filter(b -> "failed".equals(b.status())).map(b -> b.id()).toList());
            count(d.id(), "restore", engine.restores(d.id()).stream().filter(b -> "failed".equals(b.status())).map(b -> b.id()).toList());
        }
        Set<String> protectedIds = databases.stream().map(DatabaseView::id).collect(java.util.stream.Collectors.toSet());
        countedAt.keySet().removeIf(id -> !protectedIds.contains(id));
        failureCounters.keySet().removeIf(key -> {
            boolean gone = !protectedIds.contains(key.substring(0, key.indexOf('/')));
            if (gone) {
                registry.remove(failureCounters.get(key));
                failedSeen.remove(key);
            }
            return gone;
        });
    }

    /** Seconds since a moment, or since the database's registration when there is none yet. */
    private static double age(Instant completedAt, DatabaseView d, Instant now) {
        Instant since = completedAt != null ? completedAt : d.registeredAt();
        return since == null ? Double.NaN : Duration.between(since, now).toSeconds();
    }

    /** The stream's own lag while it streams; otherwise the time since the newest durable WAL, which grows. */
    private static double lagSeconds(DatabaseView d, Instant now) {
        if ("streaming".equals(d.streaming().state()) || "catching-up".equals(d.streaming().state()) || d.streaming().durableTime() == null) {
            return d.streaming().lagSeconds();
        }
        return Math.max(d.streaming().lagSeconds(), Duration.between(d.streaming().durableTime(), now).toMillis() / 1000.0);
    }

    private void count(String database, String kind, List<String> failedIds) {
        Set<String> seen = failedSeen.computeIfAbsent(database + "/" + kind, key -> {
            Set<String> ids = ConcurrentHashMap.newKeySet();
            failureCounters.put(key, FunctionCounter.builder("tidemark_failures", ids, Set::size)
                    .description("failed jobs of this kind (those recorded before the engine started included)")
                    .tags(Tags.of("database", database, "kind", kind)).register(registry));
            return ids;
        });
        seen.addAll(failedIds);
    }

    private static List<MultiGauge.Row<?>> rows(List<DatabaseView> databases, ToDoubleFunction<DatabaseView> value) {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        for (DatabaseView d : databases) {
            rows.add(MultiGauge.Row.of(Tags.of("database", d.id()), value.applyAsDouble(d)));
        }
        return rows;
    }

    /**
     * The stream's own measures, from the node that streams the database only: another node knows none of them (its series
     * would say 0 lag for a stream it does not see), and a stopped stream has none.
     */
    private static List<MultiGauge.Row<?>> streamRows(List<DatabaseView> databases, java.util.function.Function<StreamingView, Number> value) {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        for (DatabaseView d : databases) {
            Number n = value.apply(d.streaming());
            if (n != null) {
                rows.add(MultiGauge.Row.of(Tags.of("database", d.id()), n.doubleValue()));
            }
        }
        return rows;
    }
}
