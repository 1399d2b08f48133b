package dev.tidemark.engine.node;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/** A GET waiting for its job: woken by an event of its database, not held past its timeout, not fooled by other databases. */
class JobChangesTest {
    @Test
    void anEventOfTheDatabaseEndsTheWaitAtOnce() throws Exception {
        JobChanges changes = new JobChanges();
        AtomicBoolean done = new AtomicBoolean();
        long started = System.nanoTime();
        CompletableFuture<Boolean> waited = CompletableFuture.supplyAsync(() -> {
            try {
                return changes.await("shop", done::get, Duration.ofSeconds(20));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(100);
        changes.signal("other"); // another database's event: the job is looked at no sooner than its own
        assertThat(waited).isNotDone();
        done.set(true);
        changes.signal("shop");
        assertThat(waited.get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(5));
    }

    @Test
    void withoutAChangeTheWaitEndsAfterItsTimeout() throws Exception {
        JobChanges changes = new JobChanges();
        long started = System.nanoTime();
        assertThat(changes.await("shop", () -> false, Duration.ofMillis(600))).isFalse();
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(Duration.ofMillis(600))
                .isLessThan(Duration.ofSeconds(5));
    }

    @Test
    void aChangeNobodySignalledIsSeenAtTheNextLook() throws Exception {
        JobChanges changes = new JobChanges();
        AtomicBoolean done = new AtomicBoolean();
        CompletableFuture.delayedExecutor(100, TimeUnit.MILLISECONDS).execute(() -> done.set(true)); // another node's change
        long started = System.nanoTime();
        assertThat(changes.await("shop", done::get, Duration.ofSeconds(20))).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(5));
    }
}
