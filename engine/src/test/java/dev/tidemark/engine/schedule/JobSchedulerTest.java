package dev.tidemark.engine.schedule;

import org.h2.jdbcx.JdbcConnectionPool;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class JobSchedulerTest {

    /**
     * A node killed while it ran the scheduled-jobs check leaves the check marked as picked by it; the library would hand it
     * back only after 30 minutes of missed heartbeats. The node's next start releases it at once.
     */
    @Test
    void aCheckHeldByThisNodeWhenItWasKilledRunsAtItsNextStart() throws Exception {
        JdbcConnectionPool ds = checkPickedByNode1(Duration.ofSeconds(30)); // stopped, but not yet dead to the library
        try {
            CountDownLatch ran = new CountDownLatch(1);
            try (JobScheduler next = new JobScheduler(ds, Duration.ofHours(1), "node-1", ran::countDown)) {
                next.start();
                assertThat(ran.await(20, TimeUnit.SECONDS)).as("the check runs at the restarted node's start").isTrue();
            }
            assertThat(picked(ds)).isZero();
        } finally {
            ds.dispose();
        }
    }

    /** A check of this node's name with a fresh heartbeat may be another node's (two nodes with one name): left alone. */
    @Test
    void aCheckOfThisNodesNameWithAFreshHeartbeatIsLeftAlone() throws Exception {
        JdbcConnectionPool ds = checkPickedByNode1(Duration.ofSeconds(2));
        try {
            try (JobScheduler next = new JobScheduler(ds, Duration.ofHours(1), "node-1", () -> { })) {
                assertThat(picked(ds)).isEqualTo(1);
            }
        } finally {
            ds.dispose();
        }
    }

    /** A job table whose check node-1 picked, its last heartbeat this long ago. */
    private static JdbcConnectionPool checkPickedByNode1(Duration heartbeatAgo) throws Exception {
        JdbcConnectionPool ds = JdbcConnectionPool.create("jdbc:h2:mem:jobs" + System.nanoTime() + ";DB_CLOSE_DELAY=-1", "sa", "");
        try (JobScheduler first = new JobScheduler(ds, Duration.ofHours(1), "node-1", () -> { })) {
            // not started: only the table
        }
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("delete from scheduled_tasks");
            try (PreparedStatement ps = c.prepareStatement("insert into scheduled_tasks (task_name, task_instance, execution_time,"
                    + " picked, picked_by, last_heartbeat, version) values ('tidemark-schedule-tick', 'recurring', ?, true, 'node-1', ?, 3)")) {
                ps.setTimestamp(1, Timestamp.from(Instant.now().minusSeconds(60)));
                ps.setTimestamp(2, Timestamp.from(Instant.now().minus(heartbeatAgo)));
                ps.execute();
            }
        }
        return ds;
    }

    private static int picked(JdbcConnectionPool ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select count(*) from scheduled_tasks where picked")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
