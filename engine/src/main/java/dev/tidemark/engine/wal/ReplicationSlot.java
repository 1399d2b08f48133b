package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerQueries;
import org.postgresql.replication.LogSequenceNumber;
import org.postgresql.replication.PGReplicationStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * One stream's physical replication slot: looked up, made when missing, made again when the server invalidated it; and
 * the acknowledgement of what is durable, which lets the server release that WAL (through the stream's status messages,
 * or for a catch-up by moving the slot).
 */
final class ReplicationSlot {
    private static final Logger log = LoggerFactory.getLogger(WalStreamer.class); // the stream's log lines keep their logger

    private final String databaseId;
    private final String name;

    ReplicationSlot(String databaseId, String name) {
        this.databaseId = databaseId;
        this.name = name;
    }

    /**
     * The slot's restart position, the slot made when missing. A slot the server invalidated (past max_slot_wal_keep_size:
     * PostgreSQL 13 and later keep it, marked lost, with no restart position) holds nothing and cannot be streamed from: it
     * is dropped and made again where the server is. The WAL it had held is gone; the stream then says where the recovery
     * window has its gap.
     */
    Lsn ensure(Connection sql, Connection replication) throws SQLException {
        ServerQueries.PhysicalSlot slot = slot(sql);
        if (slot != null && slot.restart() == null) {
            log.warn("replication slot {} of {} was invalidated by the server (it held more WAL than max_slot_wal_keep_size allows):"
                    + " the WAL it kept is gone; dropping it and making it again", name, databaseId);
            new ServerQueries(sql).dropSlot(name);
            slot = null;
        }
        if (slot == null) {
            new ServerQueries(replication).createPhysicalSlot(name);
            log.info("created replication slot {} for {}", name, databaseId);
            slot = slot(sql);
        }
        if (slot == null || slot.restart() == null) {
            throw new SQLException("replication slot " + name + " has no restart position");
        }
        return slot.restart();
    }

    /** This stream's physical slot (restart null when the server invalidated it), or null when the server has none of that name. */
    private ServerQueries.PhysicalSlot slot(Connection sql) throws SQLException {
        return new ServerQueries(sql).physicalSlot(name).orElse(null);
    }

    /** Tells the server what is durable, so that it may release that WAL. */
    interface Acknowledger {
        void durable(Lsn lsn) throws SQLException;

        /** False: a conflict is not acknowledged but ends what runs (a catch-up), before that segment. */
        default boolean acceptsConflict() {
            return true;
        }
    }

    /** Acknowledges through the replication stream's status messages. */
    static Acknowledger acknowledger(PGReplicationStream stream) {
        return lsn -> {
            stream.setFlushedLSN(LogSequenceNumber.valueOf(lsn.value()));
            stream.setAppliedLSN(LogSequenceNumber.valueOf(lsn.value()));
            stream.forceUpdateStatus();
        };
    }

    /** Acknowledges a catch-up's segments by moving the slot, which restarts at slotRestart now. */
    SlotAdvancer advancer(Connection sql, Lsn slotRestart) {
        return new SlotAdvancer(sql, slotRestart);
    }

    /**
     * Acknowledges a catch-up's durable segments by moving the slot (pg_replication_slot_advance) at most once a second. A
     * slot that cannot be moved now (still held by the walsender of a connection just closed) is tried again a second
     * later; one this role may not move, or that is gone, is left alone: the server keeps that WAL until the stream
     * acknowledges it. A segment whose stored copy differs from the file ends the catch-up unacknowledged: the stream
     * sends the server's own bytes for it.
     */
    final class SlotAdvancer implements Acknowledger {
        private final Connection sql;
        private long last = System.nanoTime();
        private Lsn advanced;
        private boolean givenUp;
        private String warned;

        private SlotAdvancer(Connection sql, Lsn slotRestart) {
            this.sql = sql;
            this.advanced = slotRestart;
        }

        @Override
        public boolean acceptsConflict() {
            return false;
        }

        @Override
        public void durable(Lsn lsn) {
            if (System.nanoTime() - last >= TimeUnit.SECONDS.toNanos(1)) {
                advance(lsn);
            }
        }

        void advance(Lsn lsn) {
            last = System.nanoTime();
            if (givenUp || lsn.compareTo(advanced) <= 0) {
                return;
            }
            try {
                new ServerQueries(sql).advanceSlot(name, lsn);
                advanced = lsn;
            } catch (SQLException e) {
                String state = e.getSQLState();
                givenUp = "42501".equals(state) || "42704".equals(state) || "55000".equals(state); // no privilege, no slot, invalidated
                if (!Objects.equals(warned, state)) {
                    warned = state;
                    log.warn("replication slot {} of {} could not be moved to {} ({}): {}", name, databaseId, lsn,
                            e.getMessage().lines().findFirst().orElse(""), givenUp
                                    ? "the server keeps that WAL until the stream acknowledges it"
                                    : "trying again in a second");
                }
            }
        }

        /** Where the slot was moved to last (its restart position when it was not moved). */
        Lsn advanced() {
            return advanced;
        }

        /** The slot could not be moved and is left where it was. */
        boolean givenUp() {
            return givenUp;
        }
    }
}
