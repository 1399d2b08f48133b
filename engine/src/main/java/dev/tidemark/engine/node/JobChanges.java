package dev.tidemark.engine.node;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Wakes whoever waits for a job to change (a client's GET of a job that asks to wait): every event the catalog commits
 * signals, and each waiter looks at its own job again. The answer leaves as soon as the change is in the catalog's view,
 * where a client polling on its own sees it only at its next poll.
 */
public final class JobChanges {
    /** A waiter looks again at least this often: a change it was not told of (another node's) is seen within it. */
    private static final long RECHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition signalled = lock.newCondition();
    private long generation;

    /** Something committed: every waiter looks at its job again. */
    public void signal() {
        lock.lock();
        try {
            generation++;
            signalled.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Waits until changed says true or timeout has passed; true when it changed. The check runs outside the lock. */
    public boolean await(BooleanSupplier changed, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long seen;
            lock.lock();
            try {
                seen = generation;
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
                if (generation == seen) {
                    signalled.awaitNanos(Math.min(left, RECHECK_NANOS));
                }
            } finally {
                lock.unlock();
            }
        }
    }
}
