package dev.tidemark.engine.testing;

import java.time.Duration;
import java.util.function.Predicate;
import java.util.function.Supplier;

/** Waits for asynchronous work (a backup, a restore, a window) to reach a state, failing with the last value seen. */
public final class Eventually {
    private Eventually() {
    }

    public static <T> T await(Supplier<T> probe, Predicate<T> done, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        T value = probe.get();
        while (!done.test(value)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not done within " + timeout + ": " + value);
            }
            Thread.sleep(100);
            value = probe.get();
        }
        return value;
    }
}
