package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import org.postgresql.copy.CopyDual;
import org.postgresql.copy.CopyOperation;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.PGStream;
import org.postgresql.core.QueryExecutor;
import org.postgresql.core.QueryExecutorBase;
import org.postgresql.core.v3.replication.V3PGReplicationStream;
import org.postgresql.replication.LogSequenceNumber;
import org.postgresql.replication.PGReplicationStream;
import org.postgresql.replication.ReplicationType;

import java.io.IOException;
import java.lang.reflect.Field;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * A physical replication stream of a timeline the server has left (START_REPLICATION ... TIMELINE n). pgjdbc's
 * stream builder cannot name a timeline, and without one the server streams its current timeline, whose names the
 * segments before the switch do not have: a stream that was behind at a promotion could never catch up. The stream is
 * started the way pgjdbc's builder starts one, with the timeline added; the server sends that timeline's WAL up to
 * where its successor began.
 */
final class HistoricStream {
    private static final int STATUS_INTERVAL_MS = 10_000;

    private HistoricStream() {
    }

    static PGReplicationStream start(Connection replication, String slot, Lsn start, int timeline) throws SQLException {
        BaseConnection connection = replication.unwrap(BaseConnection.class);
        QueryExecutor executor = connection.getQueryExecutor();
        tuneForStreaming(executor);
        CopyOperation copy = executor.startCopy("START_REPLICATION SLOT " + slot + " PHYSICAL " + start + " TIMELINE " + timeline, true);
        if (!(copy instanceof CopyDual dual)) {
            copy.cancelCopy();
            throw new SQLException("the server did not start a replication stream for timeline " + timeline);
        }
        return new V3PGReplicationStream(dual, LogSequenceNumber.valueOf(start.value()), STATUS_INTERVAL_MS, true,
                ReplicationType.PHYSICAL);
    }

    /**
     * What the builder does before it starts a stream: a socket timeout no longer than the status interval, and reads
     * that look at the socket every time instead of at most once a second (the stream is read without blocking). pgjdbc
     * keeps the connection's stream in a protected field; there is no other way to reach it.
     */
    private static void tuneForStreaming(QueryExecutor executor) throws SQLException {
        try {
            Field field = QueryExecutorBase.class.getDeclaredField("pgStream");
            field.setAccessible(true);
            PGStream stream = (PGStream) field.get(executor);
            int timeout = stream.getSocket().getSoTimeout();
            stream.getSocket().setSoTimeout(timeout > 0 ? Math.min(timeout, STATUS_INTERVAL_MS) : STATUS_INTERVAL_MS);
            stream.setMinStreamAvailableCheckDelay(0);
        } catch (ReflectiveOperationException | RuntimeException | IOException e) {
            throw new SQLException("this PostgreSQL JDBC driver does not let a replication stream name a timeline: " + e, e);
        }
    }
}
