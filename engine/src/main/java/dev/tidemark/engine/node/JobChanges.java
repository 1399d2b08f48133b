package dev.tidemark.engine.node;

import dev.tidemark.engine.catalog.JobStatus;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Wakes whoever waits for a job to change (a client's GET of a job that asks to wait): every event the catalog commits
 * signals its database, and each waiter on that database looks at its job again. The answer leaves as soon as the change
 * is in the catalog's view, where a client polling on its own sees it only at its next poll.
 */
public final class JobChanges {
    /** A waiter looks again at least this often: a change it was not told of (another node's) is seen within it. */
    private static final long RECHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition signalled = lock.newCondition();
    /** Guarded by lock: per database, how many of its events committed since this node started. */
    private final Map<String, Long> generations = new HashMap<>();

    /** An event of the database committed: the waiters on it look at their jobs again. */
    public void signal(String databaseId) {
        lock.lock();
        try {
            generations.merge(databaseId, 1L, Long::sum);
            signalled.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits up to wait while a job's status (from the catalog's view, current at each commit) stays what it was and in
     * progress: a GET that follows shows the change the moment it is recorded. An unknown or ended job waits for nothing;
     * an interrupted wait (the engine stops) ends at once.
     */
    public void awaitStatusChange(String databaseId, Duration wait, Supplier<Optional<JobStatus>> status) {
        Optional<JobStatus> first = status.get();
        if (wait.isZero() || wait.isNegative() || first.isEmpty() || !first.get().inProgress()) {
            return;
        }
        try {
            await(databaseId, () -> !status.get().equals(first), wait);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Waits until changed says true or timeout has passed; true when it changed. changed is asked again after each event
     * of the database (outside the lock), and at least every quarter of a second.
     */
    public boolean await(String databaseId, BooleanSupplier changed, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long seen;
            lock.lock();
            try {
                seen = generations.getOrDefault(databaseId, 0L);
            } finally {
                lock.unlock();
            }
            if (changed.getAsBoolean()) {
                return true;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            lock.lock();
            try {
                long wakeAt = System.nanoTime() + Math.min(left, RECHECK_NANOS);
                for (long wait = wakeAt - System.nanoTime(); wait > 0 && generations.getOrDefault(databaseId, 0L) == seen;
                     wait = wakeAt - System.nanoTime()) {
                    signalled.awaitNanos(wait);
                }
            } finally {
                lock.unlock();
            }
        }
    }
}
