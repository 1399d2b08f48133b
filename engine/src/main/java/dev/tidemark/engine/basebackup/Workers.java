package dev.tidemark.engine.basebackup;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/** The worker pools of base backups and restores. */
public final class Workers {
    private static final Logger LOG = LoggerFactory.getLogger(Workers.class);

    private Workers() {
    }

    /** Stops the workers and waits for them, so nothing is written after a failure has been cleaned up. */
    public static void stopAndWait(ExecutorService pool) {
        pool.shutdownNow();
        try {
            if (!pool.awaitTermination(2, TimeUnit.MINUTES)) {
                LOG.warn("workers did not stop within 2 minutes");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
