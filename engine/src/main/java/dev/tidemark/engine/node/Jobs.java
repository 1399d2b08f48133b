package dev.tidemark.engine.node;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The jobs of this node (base backups, dumps, restores) and whether the engine is stopping: at most a configured number
 * run at once, the others wait in the order they were asked for, each job once; their place in the queue is shown in
 * their views. Other tasks (deregistrations) run beside them, unqueued. A job the stop interrupted is failed at the next
 * start, as {@link #INTERRUPTED}; one still queued stays requested in the catalog and is queued again at the next start.
 * A database whose lease this node loses has its jobs cancelled the same way ({@link #cancel}): the running ones are
 * interrupted and record nothing, the queued ones dropped; the node that takes the database over fails them as
 * interrupted and starts the queued ones (issue 20).
 */
public final class Jobs implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Jobs.class);
    public static final String INTERRUPTED = "interrupted: the engine stopped while it ran; ask again";

    private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "tidemark-work");
        t.setDaemon(true);
        return t;
    });
    private final int maxConcurrent;
    /** Guarded by this: the jobs waiting, oldest first, the keys of every job waiting or running, how many run. */
    private final Deque<Queued> waiting = new ArrayDeque<>();
    private final Set<String> submitted = new HashSet<>();
    /** Guarded by this: the thread of each running job, and the jobs cancelled because the node lost their database. */
    private final Map<String, Thread> threads = new HashMap<>();
    private final Set<String> cancelled = new HashSet<>();
    private int running;
    private volatile boolean closing;

    private record Queued(String key, String databaseId, String id, Runnable job) {
    }

    /** maxConcurrent: jobs running at once; the others are queued. */
    public Jobs(int maxConcurrent) {
        if (maxConcurrent < 1) {
            throw new IllegalArgumentException("at least one job must be allowed to run, not " + maxConcurrent);
        }
        this.maxConcurrent = maxConcurrent;
    }

    /** Queues job, unless the job of that id is queued or running already; it runs when its turn comes. */
    public synchronized void submit(String databaseId, String id, Runnable job) {
        String key = databaseId + "/" + id;
        if (closing || !submitted.add(key)) {
            return;
        }
        waiting.addLast(new Queued(key, databaseId, id, job));
        startDue();
        if (!waiting.isEmpty() && waiting.peekLast().key().equals(key)) {
            LOG.info("{} of {} queued at position {}: {} jobs run at once on this node", id, databaseId, waiting.size(), maxConcurrent);
        }
    }

    /** The job's place in the queue (1: next to run), or null when it is not waiting (running, done, or unknown): as views show it. */
    public synchronized Integer queuePosition(String databaseId, String id) {
        String key = databaseId + "/" + id;
        int position = 1;
        for (Queued q : waiting) {
            if (q.key().equals(key)) {
                return position;
            }
            position++;
        }
        return null;
    }

    /** Jobs running now. */
    public synchronized int running() {
        return running;
    }

    /** Starts waiting jobs, oldest first, while fewer than the limit run. Called holding the lock. */
    private void startDue() {
        while (running < maxConcurrent && !waiting.isEmpty() && !closing) {
            Queued q = waiting.pollFirst();
            running++;
            pool.execute(() -> run(q));
        }
    }

    private void run(Queued q) {
        synchronized (this) {
            threads.put(q.key(), Thread.currentThread());
        }
        try {
            q.job().run();
        } catch (RuntimeException e) {
            LOG.error("job {} of {} failed unexpectedly: {}", q.id(), q.databaseId(), e.toString());
        } finally {
            synchronized (this) {
                running--;
                submitted.remove(q.key());
                threads.remove(q.key());
                cancelled.remove(q.key());
                Thread.interrupted(); // a cancellation that came after the job's last check ends with it
                startDue();
            }
        }
    }

    /** Runs a task in the pool, beside the queued jobs. */
    public void execute(Runnable task) {
        pool.submit(task);
    }

    /**
     * This node lost the database's lease (issue 20): its queued jobs are dropped (they stay requested in the catalog, for
     * the new owner) and its running jobs interrupted; they record nothing more, and their writes to the repository are
     * refused ({@link #cancelled}). Returns how many jobs were running.
     */
    public synchronized int cancel(String databaseId) {
        waiting.removeIf(q -> {
            if (q.databaseId().equals(databaseId)) {
                submitted.remove(q.key());
                return true;
            }
            return false;
        });
        int interrupted = 0;
        for (Map.Entry<String, Thread> t : threads.entrySet()) {
            if (t.getKey().startsWith(databaseId + "/") && cancelled.add(t.getKey())) {
                t.getValue().interrupt();
                interrupted++;
            }
        }
        if (interrupted > 0) {
            LOG.warn("{} jobs of {} interrupted: this node no longer holds its lease; the new owner marks them failed (interrupted)",
                    interrupted, databaseId);
        }
        return interrupted;
    }

    /** Whether the job was cancelled because this node lost its database (then it must write and record nothing more). */
    public synchronized boolean cancelled(String databaseId, String id) {
        return cancelled.contains(databaseId + "/" + id);
    }

    /**
     * Whether the engine's stop, or the loss of the database's lease, interrupted the job: then the failure it met is
     * their doing, and the job is not recorded as failed now (the catalog refuses commands from an interrupted thread;
     * after a lost lease the node writes nothing for the database) but at the next start, or by the database's new owner
     * when it takes it over, as interrupted, its objects removed.
     */
    public boolean stoppedByClose(String what, String id, String databaseId) {
        if (cancelled(databaseId, id)) {
            LOG.info("{} {} of {} interrupted: this node lost the database's lease; the new owner marks it failed (interrupted)",
                    what, id, databaseId);
            return true;
        }
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
        synchronized (this) {
            closing = true;
            waiting.clear(); // still requested in the catalog: queued again at the next start
        }
        pool.shutdownNow();
        try {
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
