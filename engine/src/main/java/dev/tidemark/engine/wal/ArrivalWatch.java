package dev.tidemark.engine.wal;

import org.postgresql.core.BaseConnection;
import org.postgresql.core.PGStream;
import org.postgresql.core.QueryExecutorBase;
import org.postgresql.replication.PGReplicationStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Tells an asynchronous stream when its replication connection has something to read, so that a quiet stream sleeps
 * until the server sends something or its next timed work is due (a partial upload, a clock sample) instead of polling
 * the connection every second (pgjdbc's readPending: a 1 ms timed peek of the socket each time).
 * <p>
 * A watcher thread blocks in a peek of the connection's input (pgjdbc's PGStream, which pgjdbc does not expose: read
 * through reflection; without it the stream polls as before). The peek takes none of pgjdbc's locks, so the stream's
 * thread may write meanwhile (its acknowledgements); it reads only once the watcher has seen bytes and stopped
 * ({@link #readable()}), and hands the connection back when it has read all there was ({@link #drained(boolean)}): the two
 * never read the connection at once. An acknowledgement asks the server for a reply, and the server asks for one itself
 * at half of wal_sender_timeout, so pgjdbc's status messages go out as they did while polling.
 */
final class ArrivalWatch {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class); // the stream's log lines keep their logger
    private static final VarHandle PG_STREAM = pgStreamField();
    /** How long a closing stream waits for the server's reply to end the watcher's peek before it closes the socket. */
    private static final long POLITE_CLOSE_MILLIS = 3_000;

    private final PGStream input;
    private final Thread thread;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** The watcher may peek: the stream's thread does not read. */
    private boolean watching = true;
    /** Bytes wait in the connection's buffer (or the connection ended): the watcher stopped, the stream's thread may read. */
    private boolean ready;
    private boolean woken;
    private boolean closed;
    /** What ended the watcher's peek: the server closed the connection (or it broke); null while it is open. */
    private IOException ended;
    /** The message type the watcher saw next. */
    private int peeked = -1;
    /** Wake-ups of the stream's thread that found no WAL to read (keepalives, replies), since emptySince. */
    private int emptyRounds;
    private long emptySince;
    /** More wake-ups without WAL than this within a second: the connection is stuck, not talkative. */
    private static final int MAX_EMPTY_ROUNDS = 1_000;

    private ArrivalWatch(PGStream input, String databaseId) {
        this.input = input;
        // a platform thread: a virtual thread blocked in a socket read under pgjdbc's locks could pin its carrier on a JDK before 24
        // and a small stack: it only ever waits in a socket read, once per stream of the node
        this.thread = Thread.ofPlatform().name("wal-watch-" + databaseId).daemon().stackSize(256 * 1024).unstarted(this::watch);
    }

    /** Starts watching the replication connection; null when pgjdbc's input cannot be reached (the stream then polls). */
    static ArrivalWatch start(Connection replication, String databaseId) {
        if (PG_STREAM == null) {
            return null;
        }
        try {
            Object executor = replication.unwrap(BaseConnection.class).getQueryExecutor();
            if (!(executor instanceof QueryExecutorBase)) {
                return null;
            }
            ArrivalWatch watch = new ArrivalWatch((PGStream) PG_STREAM.get(executor), databaseId);
            watch.thread.start();
            return watch;
        } catch (SQLException | RuntimeException e) {
            log.debug("the replication connection of {} cannot be watched ({}): it is polled", databaseId, e.toString());
            return null;
        }
    }

    private static VarHandle pgStreamField() {
        try {
            return MethodHandles.privateLookupIn(QueryExecutorBase.class, MethodHandles.lookup())
                    .findVarHandle(QueryExecutorBase.class, "pgStream", PGStream.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            LoggerFactory.getLogger(WalStreamer.class).info("pgjdbc's connection input is out of reach ({}): quiet WAL streams poll"
                    + " their connection every second", e.toString());
            return null;
        }
    }

    /** Whether the stream is watched (tests: a pgjdbc upgrade that moves the field shows here). */
    static boolean available() {
        return PG_STREAM != null;
    }

    private void watch() {
        while (true) {
            lock.lock();
            try {
                while (!watching && !closed) {
                    changed.awaitUninterruptibly();
                }
                if (closed) {
                    return;
                }
            } finally {
                lock.unlock();
            }
            IOException failure = null;
            int next = -1;
            try {
                next = input.peekChar(); // blocks until the server sends something
            } catch (IOException e) {
                failure = e; // closed, reset or ended: pgjdbc's non-blocking read would only ever find nothing there
            }
            lock.lock();
            try {
                watching = false;
                ready = true;
                ended = failure;
                peeked = next;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
            if (failure != null) {
                return;
            }
        }
    }

    /** The stream's thread may read the connection now: the server sent something and the watcher stopped. */
    boolean readable() {
        lock.lock();
        try {
            return ready;
        } finally {
            lock.unlock();
        }
    }

    /**
     * The stream's thread read all there was (readWal: WAL among it): the watcher takes the connection again. Throws when
     * the connection ended or the server ended the copy (pgjdbc's non-blocking read reports either as nothing to read,
     * for ever), and when the stream keeps being woken for nothing it can read.
     */
    void drained(boolean readWal) throws SQLException {
        if (readWal) {
            emptyRounds = 0;
        } else {
            long now = System.nanoTime();
            if (emptyRounds == 0 || now - emptySince >= TimeUnit.SECONDS.toNanos(1)) {
                emptyRounds = 0;
                emptySince = now;
            }
            if (++emptyRounds > MAX_EMPTY_ROUNDS) {
                // a message pgjdbc's non-blocking read does not take would wake the stream for ever: a core spent for nothing
                throw new SQLException("the replication connection holds a message the stream cannot take (" + emptyRounds
                        + " wake-ups without WAL within a second)", "08006");
            }
        }
        lock.lock();
        try {
            if (ended != null) {
                throw new SQLException("the replication connection ended: " + ended, "08006", ended);
            }
            if (peeked == 'C') {
                // CommandComplete: the server ended its side of the copy (a shutdown, the end of a timeline). pgjdbc
                // holds that message back from a non-blocking read until the stream ends its side: nothing more comes
                throw new SQLException("the server ended the replication stream", "08006");
            }
            ready = false;
            watching = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Waits up to nanos for the connection to become readable or for {@link #wake()}; an interrupt ends it and stays set. */
    void await(long nanos) {
        lock.lock();
        try {
            while (!ready && !woken && nanos > 0) {
                nanos = changed.awaitNanos(nanos);
            }
            woken = false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // closing: the stream's loop sees it stopped
        } finally {
            lock.unlock();
        }
    }

    /** Ends a wait now: the stream has timed work to do (a clock sample asked for, say). */
    void wake() {
        lock.lock();
        try {
            woken = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Ends the watcher before the stream is closed, which reads the server's answer: the watcher must not read then. */
    void close(PGReplicationStream stream, Connection replication) {
        boolean peeking;
        lock.lock();
        try {
            closed = true;
            peeking = watching;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        boolean interrupted = Thread.interrupted(); // a stream being stopped: it still waits a moment for the reply
        if (peeking) {
            try {
                stream.forceUpdateStatus(); // asks the server for a reply, which ends the peek
            } catch (SQLException e) {
                log.debug("asking the server for a reply before closing: {}", e.getMessage());
            }
        }
        try {
            thread.join(peeking ? POLITE_CLOSE_MILLIS : 1_000);
            if (thread.isAlive()) {
                replication.abort(Runnable::run); // no answer: the socket is closed under the peek
                thread.join(TimeUnit.SECONDS.toMillis(5));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            try {
                replication.abort(Runnable::run);
            } catch (SQLException | RuntimeException ignored) {
                // closing anyway
            }
        } catch (SQLException | RuntimeException e) {
            log.debug("closing a replication connection: {}", e.getMessage());
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
