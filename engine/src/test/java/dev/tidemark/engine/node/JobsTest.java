package dev.tidemark.engine.node;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/** Issue 20: a database whose lease the node loses has its running jobs interrupted and its queued ones dropped. */
class JobsTest {

    @Test
    void aLostDatabasesJobsAreInterruptedOrDroppedAndOthersRunOn() throws Exception {
        try (Jobs jobs = new Jobs(2)) {
            CountDownLatch running = new CountDownLatch(2);
            CountDownLatch ended = new CountDownLatch(2);
            AtomicBoolean lostJobSawItsCancellation = new AtomicBoolean();
            AtomicBoolean otherInterrupted = new AtomicBoolean();
            AtomicBoolean queuedRan = new AtomicBoolean();
            jobs.submit("db1", "backup-1", () -> {
                running.countDown();
                try {
                    Thread.sleep(30_000);
                } catch (InterruptedException e) {
                    lostJobSawItsCancellation.set(jobs.cancelled("db1", "backup-1") && jobs.stoppedByClose("base backup", "backup-1", "db1"));
                } finally {
                    ended.countDown();
                }
            });
            jobs.submit("db2", "dump-1", () -> {
                running.countDown();
                try {
                    Thread.sleep(1500);
                } catch (InterruptedException e) {
                    otherInterrupted.set(true);
                } finally {
                    ended.countDown();
                }
            });
            jobs.submit("db1", "dump-2", () -> queuedRan.set(true)); // waits: two run at once
            assertThat(running.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(jobs.queuePosition("db1", "dump-2")).isEqualTo(1);

            assertThat(jobs.cancel("db1")).isEqualTo(1);
            assertThat(ended.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(lostJobSawItsCancellation).isTrue();
            assertThat(otherInterrupted).as("another database's job runs on").isFalse();
            assertThat(jobs.queuePosition("db1", "dump-2")).as("the queued job is dropped").isNull();
            Thread.sleep(200);
            assertThat(queuedRan).isFalse();
            assertThat(jobs.cancelled("db1", "backup-1")).as("forgotten once the job ended").isFalse();
            assertThat(jobs.stoppedByClose("base backup", "backup-9", "db1")).as("a job of the database started later").isFalse();

            // the database regained: its requested job is queued and runs again
            CountDownLatch again = new CountDownLatch(1);
            jobs.submit("db1", "dump-2", again::countDown);
            assertThat(again.await(10, TimeUnit.SECONDS)).isTrue();
        }
    }
}
