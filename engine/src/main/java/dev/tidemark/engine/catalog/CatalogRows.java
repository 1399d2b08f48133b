package dev.tidemark.engine.catalog;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.DatabaseHistory.Dump;
import dev.tidemark.engine.catalog.DatabaseHistory.Restore;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DatabaseEvent.*;
import dev.tidemark.engine.catalog.api.Policy;
import org.axonframework.common.jdbc.ConnectionProvider;
import org.axonframework.config.ProcessingGroup;
import org.axonframework.eventhandling.EventHandler;
import org.axonframework.eventhandling.ResetHandler;
import org.axonframework.eventhandling.SequenceNumber;
import org.axonframework.eventhandling.Timestamp;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The persistent read model: one row per database, per backup (base and dump) and per restore, in the catalog
 * database, kept by a tracking processor whose token is stored in the same transaction as the rows it wrote. Rows
 * are what the API lists. Resetting the processor's token deletes them and replays every event, which gives the same
 * rows again. Each row keeps a few columns to query on and the whole record as JSON.
 */
@ProcessingGroup(CatalogRows.GROUP)
public final class CatalogRows {
    static final String GROUP = "catalog-rows";
    static final List<String> TABLES = List.of("tdm_database_row", "tdm_backup_row", "tdm_restore_row");

    /** A database as the rows keep it; the window is the recorded one, as of the database's last event. */
    public record DatabaseRow(String id, String status, String pgUrl, String pgdata, String standbyUrl, Policy policy,
                              Instant registeredAt, String owner, String chain, Instant windowStart, Instant windowEnd, String windowNote,
                              long version) {
    }

    private final ConnectionProvider connections;
    private final ObjectMapper json;
    private final Function<String, List<CatalogEvent>> store;
    /** The history of each database at the processor's position; rebuilt from the store when it does not fit. */
    private final Map<String, DatabaseHistory> folded = new ConcurrentHashMap<>();

    CatalogRows(ConnectionProvider connections, ObjectMapper json, Function<String, List<CatalogEvent>> store) {
        this.connections = connections;
        this.json = json;
        this.store = store;
    }

    static void createTables(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("create table if not exists tdm_database_row (database_id varchar(64) primary key, status varchar(32) not null, "
                    + "window_start timestamp with time zone, window_end timestamp with time zone, version bigint not null, "
                    + "detail text not null)");
            s.execute("create table if not exists tdm_backup_row (database_id varchar(64) not null, backup_id varchar(128) not null, "
                    + "kind varchar(8) not null, status varchar(32) not null, trigger_name varchar(32), "
                    + "requested_at timestamp with time zone, completed_at timestamp with time zone, bytes bigint, stored_bytes bigint, "
                    + "detail text not null, primary key (database_id, backup_id))");
            s.execute("create table if not exists tdm_restore_row (database_id varchar(64) not null, restore_id varchar(128) not null, "
                    + "kind varchar(16) not null, status varchar(32) not null, requested_at timestamp with time zone, "
                    + "completed_at timestamp with time zone, reached_time timestamp with time zone, detail text not null, "
                    + "primary key (database_id, restore_id))");
        }
    }

    @EventHandler
    void on(DatabaseEvent event, @SequenceNumber long sequence, @Timestamp Instant at) throws SQLException {
        String id = event.databaseId();
        DatabaseHistory h = folded.get(id);
        if (h == null || h.version() != sequence - 1) {
            // first event of a database since start, or a batch that rolled back and is handled again
            h = new DatabaseHistory();
            for (CatalogEvent e : store.apply(id)) {
                if (e.sequence() >= sequence) {
                    break;
                }
                h.apply(e.event(), e.sequence());
            }
            folded.put(id, h);
        }
        h.apply(event, sequence);
        try (Connection c = connections.getConnection()) {
            writeDatabase(c, h, at);
            for (String backupId : baseBackupsOf(event)) {
                Optional<BaseBackup> b = h.baseBackup(backupId);
                if (b.isPresent()) {
                    writeBackup(c, id, "base", b.get().id(), b.get().status().wire(), b.get().trigger(), b.get().requestedAt(),
                            b.get().completedAt(), b.get().bytes(), b.get().storedBytes(), b.get());
                }
            }
            for (String dumpId : dumpsOf(event)) {
                Optional<Dump> d = h.dump(dumpId);
                if (d.isPresent()) {
                    writeBackup(c, id, "dump", d.get().id(), d.get().status().wire(), d.get().trigger(), d.get().requestedAt(),
                            d.get().completedAt(), d.get().status() == JobStatus.COMPLETED ? d.get().bytes() : null,
                            d.get().status() == JobStatus.COMPLETED ? d.get().storedBytes() : null, d.get());
                }
            }
            if (restoreOf(event) != null) {
                Optional<Restore> r = h.restore(restoreOf(event));
                if (r.isPresent()) {
                    writeRestore(c, id, r.get());
                }
            }
        }
    }

    @ResetHandler
    void reset() {
        folded.clear();
        try (Connection c = connections.getConnection(); Statement s = c.createStatement()) {
            for (String table : TABLES) {
                s.executeUpdate("delete from " + table);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot clear the read model: " + e.getMessage(), e);
        }
    }

    private static List<String> baseBackupsOf(DatabaseEvent event) {
        return switch (event) {
            case BaseBackupRequested e -> List.of(e.backupId());
            case BaseBackupStarted e -> List.of(e.backupId());
            case BaseBackupCompleted e -> List.of(e.backupId());
            case BaseBackupFailed e -> List.of(e.backupId());
            case BackupsExpired e -> e.baseBackupIds();
            default -> List.of();
        };
    }

    private static List<String> dumpsOf(DatabaseEvent event) {
        return switch (event) {
            case DumpRequested e -> List.of(e.dumpId());
            case DumpStarted e -> List.of(e.dumpId());
            case DumpCompleted e -> List.of(e.dumpId());
            case DumpFailed e -> List.of(e.dumpId());
            case BackupsExpired e -> e.dumpIds();
            default -> List.of();
        };
    }

    private static String restoreOf(DatabaseEvent event) {
        return switch (event) {
            case RestoreRequested e -> e.restoreId();
            case RestoreStarted e -> e.restoreId();
            case RestoreCompleted e -> e.restoreId();
            case RestoreFailed e -> e.restoreId();
            default -> null;
        };
    }

    /** The database's row as of this history, its window computed at the time of its last event. */
    static DatabaseRow row(DatabaseHistory h, Instant at) {
        RecoveryWindow w = RecoveryWindow.of(h, at, null);
        return new DatabaseRow(h.id(), h.status(), h.pgUrl(), h.pgdata(), h.standbyUrl(), h.policy(), h.registeredAt(), h.owner(),
                h.chain(), w.start(), w.end(), w.isEmpty() ? w.note() : null, h.version());
    }

    private void writeDatabase(Connection c, DatabaseHistory h, Instant at) throws SQLException {
        DatabaseRow row = row(h, at);
        Object[] values = {row.status(), time(row.windowStart()), time(row.windowEnd()), row.version(), text(row)};
        if (update(c, "update tdm_database_row set status = ?, window_start = ?, window_end = ?, version = ?, detail = ? "
                + "where database_id = ?", values, h.id()) == 0) {
            update(c, "insert into tdm_database_row (status, window_start, window_end, version, detail, database_id) "
                    + "values (?, ?, ?, ?, ?, ?)", values, h.id());
        }
    }

    private void writeBackup(Connection c, String databaseId, String kind, String backupId, String status, String trigger,
                             Instant requestedAt, Instant completedAt, Long bytes, Long storedBytes, Object record) throws SQLException {
        Object[] values = {kind, status, trigger, time(requestedAt), time(completedAt), bytes, storedBytes, text(record)};
        if (update(c, "update tdm_backup_row set kind = ?, status = ?, trigger_name = ?, requested_at = ?, completed_at = ?, bytes = ?, "
                + "stored_bytes = ?, detail = ? where database_id = ? and backup_id = ?", values, databaseId, backupId) == 0) {
            update(c, "insert into tdm_backup_row (kind, status, trigger_name, requested_at, completed_at, bytes, stored_bytes, detail, "
                    + "database_id, backup_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values, databaseId, backupId);
        }
    }

    private void writeRestore(Connection c, String databaseId, Restore r) throws SQLException {
        Object[] values = {r.kind(), r.status().wire(), time(r.requestedAt()), time(r.completedAt()), time(r.reachedTime()), text(r)};
        if (update(c, "update tdm_restore_row set kind = ?, status = ?, requested_at = ?, completed_at = ?, reached_time = ?, detail = ? "
                + "where database_id = ? and restore_id = ?", values, databaseId, r.id()) == 0) {
            update(c, "insert into tdm_restore_row (kind, status, requested_at, completed_at, reached_time, detail, database_id, "
                    + "restore_id) values (?, ?, ?, ?, ?, ?, ?, ?)", values, databaseId, r.id());
        }
    }

    private static int update(Connection c, String sql, Object[] values, String... keys) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            int i = 1;
            for (Object v : values) {
                if (v == null) {
                    s.setNull(i++, Types.NULL);
                } else {
                    s.setObject(i++, v);
                }
            }
            for (String k : keys) {
                s.setString(i++, k);
            }
            return s.executeUpdate();
        }
    }

    private static OffsetDateTime time(Instant t) {
        return t == null ? null : t.atOffset(ZoneOffset.UTC);
    }

    private String text(Object record) {
        try {
            return json.writeValueAsString(record);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the read-model row of " + record.getClass().getSimpleName(), e);
        }
    }

    private <T> T parse(String text, Class<T> type) {
        try {
            return json.readValue(text, type);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a read-model row of type " + type.getSimpleName() + " cannot be read: " + e.getMessage(), e);
        }
    }

    // --- reading: what the API lists ---

    /** The version (last event's sequence number) the rows of a database reflect; -1 when it has no row yet. */
    public long version(String databaseId) {
        try (Connection c = connections.getConnection();
             PreparedStatement s = c.prepareStatement("select version from tdm_database_row where database_id = ?")) {
            s.setString(1, databaseId);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? r.getLong(1) : -1;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the read model: " + e.getMessage(), e);
        }
    }

    /** Waits until the rows of a database reflect at least the given version; false when they did not in time. */
    public boolean awaitVersion(String databaseId, long version, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        long pause = 2;
        while (version(databaseId) < version) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            pause = Math.min(pause * 2, 50);
        }
        return true;
    }

    public List<DatabaseRow> databases() {
        return query("select detail from tdm_database_row order by database_id", DatabaseRow.class);
    }

    public Optional<DatabaseRow> database(String databaseId) {
        return query("select detail from tdm_database_row where database_id = ?", DatabaseRow.class, databaseId).stream().findFirst();
    }

    /** Base backups of a database, newest request first. */
    public List<BaseBackup> baseBackups(String databaseId) {
        return query("select detail from tdm_backup_row where database_id = ? and kind = 'base' order by requested_at desc, backup_id desc",
                BaseBackup.class, databaseId);
    }

    /** Dumps of a database, newest request first. */
    public List<Dump> dumps(String databaseId) {
        return query("select detail from tdm_backup_row where database_id = ? and kind = 'dump' order by requested_at desc, backup_id desc",
                Dump.class, databaseId);
    }

    /** Restores of a database, newest request first. */
    public List<Restore> restores(String databaseId) {
        return query("select detail from tdm_restore_row where database_id = ? order by requested_at desc, restore_id desc",
                Restore.class, databaseId);
    }

    /** Every row of every table in a fixed order, as text: what a rebuild must give again. */
    public List<String> dump() {
        List<String> all = new ArrayList<>();
        for (String table : TABLES) {
            try (Connection c = connections.getConnection(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select * from " + table + " order by 1, 2")) {
                int columns = r.getMetaData().getColumnCount();
                while (r.next()) {
                    StringBuilder line = new StringBuilder(table);
                    for (int i = 1; i <= columns; i++) {
                        Object v = r.getObject(i);
                        line.append(" | ").append(v instanceof OffsetDateTime t ? t.toInstant() : v);
                    }
                    all.add(line.toString());
                }
            } catch (SQLException e) {
                throw new IllegalStateException("cannot read the read model: " + e.getMessage(), e);
            }
        }
        return all;
    }

    private <T> List<T> query(String sql, Class<T> type, String... keys) {
        try (Connection c = connections.getConnection(); PreparedStatement s = c.prepareStatement(sql)) {
            for (int i = 0; i < keys.length; i++) {
                s.setString(i + 1, keys[i]);
            }
            List<T> rows = new ArrayList<>();
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    rows.add(parse(r.getString(1), type));
                }
            }
            return rows;
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the read model: " + e.getMessage(), e);
        }
    }
}
