package dev.tidemark.engine.schedule;

import com.github.kagkarlsson.scheduler.Scheduler;
import com.github.kagkarlsson.scheduler.task.helper.RecurringTask;
import com.github.kagkarlsson.scheduler.task.helper.Tasks;
import com.github.kagkarlsson.scheduler.task.schedule.FixedDelay;
import dev.tidemark.engine.catalog.SchemaLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/**
 * The engine's recurring job, run by db-scheduler from a job table in the catalog database: with several engine
 * nodes on one catalog, each tick runs on one node only. The tick decides what is due from the catalog (weekly base
 * backups, daily dumps, retention expiry), so a tick missed while the engine was down is made up at start-up.
 */
public final class JobScheduler implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JobScheduler.class);
    private final Scheduler scheduler;

    public JobScheduler(DataSource dataSource, Duration interval, String nodeName, Runnable tick) {
        createTable(dataSource);
        releaseOwn(dataSource, nodeName);
        RecurringTask<Void> task = Tasks.recurring("tidemark-schedule-tick", FixedDelay.of(interval))
                .execute((instance, context) -> {
                    try {
                        tick.run();
                    } catch (RuntimeException e) {
                        LOG.warn("scheduled jobs check failed: {}", e.getMessage());
                    }
                });
        scheduler = Scheduler.create(dataSource)
                .startTasks(task)
                .threads(1)
                .alwaysPersistTimestampInUTC()
                .pollingInterval(Duration.ofSeconds(Math.max(1, Math.min(10, interval.toSeconds()))))
                // a node that died mid-tick holds the tick until its heartbeats are missed: a minute, not the library's 30
                .heartbeatInterval(HEARTBEAT)
                .missedHeartbeatsLimit(6)
                .schedulerName(new com.github.kagkarlsson.scheduler.SchedulerName.Fixed(nodeName))
                .build();
    }

    public void start() {
        scheduler.start();
    }

    /** Heartbeat of a running check; one older than twice this is no live node's. */
    private static final Duration HEARTBEAT = Duration.ofSeconds(10);

    /**
     * A check this node had picked when it died (killed, machine lost) is still marked as picked by it: this node has only
     * just started, so nothing of its own runs, and a check of its name whose heartbeat stopped is handed back at once
     * instead of after the missed heartbeats. One with a fresh heartbeat is left alone: another node may run under the
     * same name (a configuration mistake, said so); it is taken over after a minute without heartbeat.
     */
    private static void releaseOwn(DataSource dataSource, String nodeName) {
        java.sql.Timestamp now = java.sql.Timestamp.from(java.time.Instant.now());
        java.sql.Timestamp stale = java.sql.Timestamp.from(java.time.Instant.now().minus(HEARTBEAT.multipliedBy(2)));
        try (Connection c = dataSource.getConnection()) {
            int released;
            try (java.sql.PreparedStatement ps = c.prepareStatement("update scheduled_tasks set picked = false, picked_by = null,"
                    + " last_heartbeat = null, execution_time = ?, version = version + 1"
                    + " where picked and picked_by = ? and (last_heartbeat is null or last_heartbeat < ?)")) {
                ps.setTimestamp(1, now);
                ps.setString(2, nodeName);
                ps.setTimestamp(3, stale);
                released = ps.executeUpdate();
            }
            int live;
            try (java.sql.PreparedStatement ps = c.prepareStatement(
                    "select count(*) from scheduled_tasks where picked and picked_by = ?")) {
                ps.setString(1, nodeName);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    live = rs.getInt(1);
                }
            }
            if (!c.getAutoCommit()) {
                c.commit();
            }
            if (released > 0) {
                LOG.info("scheduled jobs: the check this node ({}) was running when it stopped is released and runs now", nodeName);
            }
            if (live > 0) {
                LOG.warn("scheduled jobs: a check is running under this node's name ({}) with a fresh heartbeat: does another node"
                        + " run with the same tidemark.node-id? If this node was just restarted, the check is taken up within a"
                        + " minute", nodeName);
            }
        } catch (SQLException e) {
            LOG.warn("scheduled jobs: could not release the check this node ({}) held before it stopped ({}); it is taken up again"
                    + " within a minute", nodeName, e.getMessage());
        }
    }

    private static void createTable(DataSource dataSource) {
        try (SchemaLock lock = SchemaLock.acquire(dataSource); Connection c = dataSource.getConnection()) {
            DatabaseMetaData meta = c.getMetaData();
            boolean postgres = meta.getDatabaseProductName().toLowerCase().contains("postgres");
            try (ResultSet tables = meta.getTables(null, null, postgres ? "scheduled_tasks" : "SCHEDULED_TASKS", null)) {
                if (tables.next()) {
                    return;
                }
            }
            try (Statement s = c.createStatement()) {
                s.execute("create table if not exists scheduled_tasks ("
                        + " task_name varchar(100) not null,"
                        + " task_instance varchar(100) not null,"
                        + " task_data " + (postgres ? "bytea" : "varbinary") + ","
                        + " execution_time timestamp with time zone not null,"
                        + " picked boolean not null,"
                        + " picked_by varchar(100),"
                        + " last_success timestamp with time zone,"
                        + " last_failure timestamp with time zone,"
                        + " consecutive_failures int,"
                        + " last_heartbeat timestamp with time zone,"
                        + " version bigint not null,"
                        + " priority smallint,"
                        + " primary key (task_name, task_instance))");
            }
            if (!c.getAutoCommit()) {
                c.commit();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create the job table in the catalog database: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        scheduler.stop();
    }
}
