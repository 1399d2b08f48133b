package dev.tidemark.engine.node;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The pool the jobs of this node run in (base backups, dumps, restores, deregistrations), each job once at a time, and
 * whether the engine is stopping: a job the stop interrupted is failed at the next start, as {@link #INTERRUPTED}.
 */
public final class Jobs implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Jobs.class);
    public static final String INTERRUPTED = "interrupted: the engine stopped while it ran; ask again";

    private final ExecutorService pool = Executors.newFixedThreadPool(4, r -> {
        Thread t = new Thread(r, "tidemark-work");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, Boolean> submitted = new ConcurrentHashMap<>();
    private volatile boolean closing;

    /** Runs job in the pool unless the job of that id is submitted already. */
    public void submit(String databaseId, String id, Runnable job) {
        if (submitted.putIfAbsent(databaseId + "/" + id, Boolean.TRUE) == null) {
            pool.submit(() -> {
                try {
                    job.run();
                } catch (RuntimeException e) {
                    LOG.error("job {} of {} failed unexpectedly: {}", id, databaseId, e.toString());
                } finally {
                    submitted.remove(databaseId + "/" + id);
                }
            });
        }
    }

    /** Runs a task in the pool. */
    public void execute(Runnable task) {
        pool.submit(task);
    }

    /**
     * Whether the engine's stop interrupted the job: then the failure it met is the stop's doing, and the job is not
     * recorded as failed now (the catalog refuses commands from an interrupted thread) but at the next start, as
     * interrupted, its objects removed.
     */
    public boolean stoppedByClose(String what, String id, String databaseId) {
        if (!closing) {
            return false;
        }
        LOG.info("{} {} of {} interrupted by the engine's stop: it is marked failed (interrupted) at the next start", what, id,
                databaseId);
        return true;
    }

    /** What a failure says, for the catalog and the log: the file system's exceptions name only the path. */
    public static String reason(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            message = e.getClass().getSimpleName();
        } else if (e instanceof java.nio.file.FileAlreadyExistsException) {
            message = "already exists: " + message;
        } else if (e instanceof java.nio.file.NoSuchFileException) {
            message = "no such file or directory: " + message;
        } else if (e instanceof java.nio.file.AccessDeniedException) {
            message = "permission denied: " + message;
        } else if (e instanceof java.nio.file.DirectoryNotEmptyException) {
            message = "directory not empty: " + message;
        }
        return message.length() > 2000 ? message.substring(0, 2000) + "..." : message;
    }

    @Override
    public void close() {
        closing = true;
        pool.shutdownNow();
        try {
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
