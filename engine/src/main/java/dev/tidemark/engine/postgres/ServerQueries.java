package dev.tidemark.engine.postgres;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Every statement the engine sends to a protected server (or to a server a restore started), one method per question,
 * on a connection the caller opened and closes. Capabilities keep what they decide from the answers; SQLException
 * goes to them unchanged. Replication connections take the replication commands (IDENTIFY_SYSTEM, TIMELINE_HISTORY,
 * CREATE_REPLICATION_SLOT) here too; the stream itself starts in wal/ through pgjdbc's replication API.
 */
public final class ServerQueries {
    private final Connection c;

    public ServerQueries(Connection c) {
        this.c = c;
    }

    // ---- what a server is: settings, identity, role ----

    /** The settings registration checks before it accepts a server. */
    public record ProtectionSettings(String walLevel, int maxWalSenders, long walSegmentSize, String systemId, int port,
                                     boolean inRecovery) {
    }

    public ProtectionSettings protectionSettings() throws SQLException {
        try (Statement s = c.createStatement();
             ResultSet r = s.executeQuery("select current_setting('wal_level'), current_setting('max_wal_senders')::int,"
                     + " (select setting::bigint from pg_settings where name = 'wal_segment_size'),"
                     + " (select system_identifier::text from pg_control_system()), current_setting('port')::int, pg_is_in_recovery()")) {
            r.next();
            return new ProtectionSettings(r.getString(1), r.getInt(2), r.getLong(3), r.getString(4), r.getInt(5), r.getBoolean(6));
        }
    }

    /** The connected role: whether it is a superuser, and the server's version number. */
    public record Role(boolean superuser, int versionNum) {
    }

    /** The connected role, empty when pg_roles does not list it. */
    public Optional<Role> currentRole() throws SQLException {
        try (Statement s = c.createStatement();
             ResultSet r = s.executeQuery("select rolsuper, current_setting('server_version_num')::int from pg_roles"
                     + " where rolname = current_user")) {
            return r.next() ? Optional.of(new Role(r.getBoolean(1), r.getInt(2))) : Optional.empty();
        }
    }

    /** False only when the server says the connected role may not execute the function (given with its arguments). */
    public boolean mayExecute(String function) throws SQLException {
        try (PreparedStatement p = c.prepareStatement("select has_function_privilege(?, 'execute')")) {
            p.setString(1, function);
            try (ResultSet f = p.executeQuery()) {
                return !f.next() || f.getBoolean(1);
            }
        }
    }

    /** False only when the server says the connected role does not have pg_read_all_data's privileges (PostgreSQL 14+). */
    public boolean mayReadAllData() throws SQLException {
        // 'usage': a member whose privileges apply (a NOINHERIT role's would not)
        try (Statement s = c.createStatement(); ResultSet d = s.executeQuery("select pg_has_role('pg_read_all_data', 'usage')")) {
            return !d.next() || d.getBoolean(1);
        }
    }

    /** What a stream goes by besides IDENTIFY_SYSTEM. */
    public record StreamSettings(int major, long walSegmentSize, boolean inRecovery, int port) {
    }

    public StreamSettings streamSettings() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select current_setting('server_version_num')::int / 10000,"
                     + " (select setting::bigint from pg_settings where name = 'wal_segment_size'), pg_is_in_recovery(),"
                     + " current_setting('port')::int")) {
            rs.next();
            return new StreamSettings(rs.getInt(1), rs.getLong(2), rs.getBoolean(3), rs.getInt(4));
        }
    }

    /** What a base backup checks and records of the server it copies. */
    public record BackupSettings(int versionNum, boolean inRecovery, boolean dataChecksums, String systemId, int port,
                                 long walSegmentSize) {
    }

    public BackupSettings backupSettings() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select current_setting('server_version_num')::int, pg_is_in_recovery(),"
                     + " current_setting('data_checksums') = 'on', (select system_identifier::text from pg_control_system()),"
                     + " current_setting('port')::int,"
                     + " (select setting::bigint from pg_settings where name = 'wal_segment_size')")) {
            rs.next();
            return new BackupSettings(rs.getInt(1), rs.getBoolean(2), rs.getBoolean(3), rs.getString(4), rs.getInt(5), rs.getLong(6));
        }
    }

    /** The server's version number and whether it is a standby. */
    public record Version(int versionNum, boolean inRecovery) {
    }

    public Version version() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select current_setting('server_version_num')::int, pg_is_in_recovery()")) {
            rs.next();
            return new Version(rs.getInt(1), rs.getBoolean(2));
        }
    }

    /** The server's own paths: data directory, postgresql.conf, pg_hba.conf, pg_ident.conf, as the settings give them. */
    public record FileSettings(String dataDirectory, String configFile, String hbaFile, String identFile) {
    }

    /** Empty when the current role may read every setting (pg_read_all_settings, or a superuser); else the role's name. */
    public Optional<String> roleWithoutSettingsAccess() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_has_role('pg_read_all_settings', 'usage'), current_user")) {
            rs.next();
            return rs.getBoolean(1) ? Optional.empty() : Optional.of(rs.getString(2)); // a superuser has every role's privileges
        }
    }

    /** Throws SQLException when the role may not read the settings (pg_read_all_settings). */
    public FileSettings fileSettings() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select current_setting('data_directory'), current_setting('config_file'),"
                     + " current_setting('hba_file'), current_setting('ident_file')")) {
            rs.next();
            return new FileSettings(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4));
        }
    }

    // ---- WAL positions, timelines, the server's clock ----

    /** The system, timeline and flush position (replication connection). */
    public record SystemIdentity(String systemId, int timeline, Lsn position) {
    }

    public SystemIdentity identifySystem() throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("IDENTIFY_SYSTEM")) {
            rs.next();
            return new SystemIdentity(rs.getString(1), rs.getInt(2), Lsn.parse(rs.getString(3)));
        }
    }

    /** The content of a timeline's history file (replication connection). */
    public byte[] timelineHistory(int timeline) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("TIMELINE_HISTORY " + timeline)) {
            rs.next();
            return rs.getBytes(2);
        }
    }

    /** {@link #timelineHistory} as text. */
    public String timelineHistoryText(int timeline) throws SQLException {
        return new String(timelineHistory(timeline), StandardCharsets.UTF_8);
    }

    /** Where a primary writes WAL now, and on which timeline (from its segment's name). */
    public record WalInsert(Lsn lsn, int timeline) {
    }

    public WalInsert walInsert() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn())")) {
            rs.next();
            return new WalInsert(Lsn.parse(rs.getString(1)), Integer.parseInt(rs.getString(2).substring(0, 8), 16));
        }
    }

    /** A primary's current WAL position, as the server writes it. */
    public String currentWalLsn() throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select pg_current_wal_lsn()::text")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** How far a primary has flushed its WAL. */
    public Lsn walFlushPosition() throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select pg_current_wal_flush_lsn()::text")) {
            rs.next();
            return Lsn.parse(rs.getString(1));
        }
    }

    /** The timeline a promoted server writes on (from its current segment's name). */
    public int currentTimeline() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /**
     * A sample of the server's clock: its time, WAL position (null on a standby that has none yet), timeline (null when
     * a standby's receiver does not say), whether it is in recovery, and the WAL the slot holds back (0 without the slot).
     */
    public record ClockReading(Instant time, String lsn, Integer timeline, boolean inRecovery, long retainedBytes) {
    }

    public ClockReading clockReading(boolean standby, String slotName) throws SQLException {
        String query = standby
                ? "select clock_timestamp(), coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()),"
                + " (select received_tli from pg_stat_wal_receiver), pg_is_in_recovery(),"
                + " (select pg_wal_lsn_diff(coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), restart_lsn)"
                + "  from pg_replication_slots where slot_name = ?)"
                : "select clock_timestamp(), pg_current_wal_lsn(), ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int,"
                + " pg_is_in_recovery(), (select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) from pg_replication_slots where slot_name = ?)";
        try (PreparedStatement ps = c.prepareStatement(query)) {
            ps.setString(1, slotName);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new ClockReading(rs.getTimestamp(1).toInstant(), rs.getString(2), rs.getObject(3) == null ? null : rs.getInt(3),
                        rs.getBoolean(4), rs.getLong(5));
            }
        }
    }

    /** The server's clock now. */
    public Instant clock() throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select clock_timestamp()")) {
            rs.next();
            return rs.getTimestamp(1).toInstant();
        }
    }

    // ---- replication slots ----

    /** A physical slot as the server lists it: restart null when it has none (invalidated). */
    public record PhysicalSlot(Lsn restart) {
    }

    /** The physical slot of that name, empty when the server has none. */
    public Optional<PhysicalSlot> physicalSlot(String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "select restart_lsn::text from pg_replication_slots where slot_name = ? and slot_type = 'physical'")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(new PhysicalSlot(rs.getString(1) == null ? null : Lsn.parse(rs.getString(1))))
                        : Optional.empty();
            }
        }
    }

    /** Makes a physical slot that keeps WAL from now on (replication connection). */
    public void createPhysicalSlot(String name) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("CREATE_REPLICATION_SLOT " + name + " PHYSICAL RESERVE_WAL");
        }
    }

    /**
     * Makes a physical slot that keeps WAL from the last checkpoint's redo position on (a plain SQL connection), unless one
     * of that name exists; true when it was made.
     */
    public boolean reservePhysicalSlot(String name) throws SQLException {
        if (physicalSlot(name).isPresent()) {
            return false;
        }
        try (PreparedStatement ps = c.prepareStatement("select pg_create_physical_replication_slot(?, true)")) {
            ps.setString(1, name);
            ps.execute();
        }
        return true;
    }

    /** Makes a temporary physical slot, dropped by the server when this session ends. */
    public void createTemporarySlot(String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select pg_create_physical_replication_slot(?, false, true)")) {
            ps.setString(1, name);
            ps.execute();
        }
    }

    public void dropSlot(String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select pg_drop_replication_slot(?)")) {
            ps.setString(1, name);
            ps.execute();
        }
    }

    /** Drops the slot when it exists and no connection uses it. */
    public void dropSlotIfInactive(String name) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                + "where slot_name = ? and not active")) {
            s.setString(1, name);
            s.execute();
        }
    }

    public void advanceSlot(String name, Lsn lsn) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select pg_replication_slot_advance(?, ?::pg_lsn)")) {
            ps.setString(1, name);
            ps.setString(2, lsn.toString());
            ps.execute();
        }
    }

    // ---- base backups ----

    /** pg_backup_start (pg_start_backup before PostgreSQL 15) on this session: the backup's start position. */
    public Lsn backupStart(String label, boolean fastCheckpoint, int versionNum) throws SQLException {
        String startSql = versionNum >= 150000 ? "select pg_backup_start(?, ?)::text" : "select pg_start_backup(?, ?, false)::text";
        try (PreparedStatement ps = c.prepareStatement(startSql)) {
            ps.setString(1, label);
            ps.setBoolean(2, fastCheckpoint);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return Lsn.parse(rs.getString(1));
            }
        }
    }

    /** What pg_backup_stop returns: the stop position, the backup_label and the tablespace_map. */
    public record BackupStop(Lsn lsn, String label, String tablespaceMap) {
    }

    public BackupStop backupStop(int versionNum) throws SQLException {
        String stopSql = versionNum >= 150000
                ? "select lsn::text, labelfile, spcmapfile from pg_backup_stop(false)"
                : "select lsn::text, labelfile, spcmapfile from pg_stop_backup(false, false)";
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(stopSql)) {
            rs.next();
            return new BackupStop(Lsn.parse(rs.getString(1)), rs.getString(2), rs.getString(3));
        }
    }

    public void checkpoint() throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("checkpoint");
        }
    }

    // ---- tablespaces ----

    /** A tablespace with a location of its own (an in-place one, LOCATION '', is backed up as files of pg_tblspc). */
    public record Tablespace(String oid, String name) {
    }

    public List<Tablespace> tablespacesWithLocation() throws SQLException {
        List<Tablespace> tablespaces = new ArrayList<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select oid::text, spcname from pg_tablespace where spcname not in ('pg_default', 'pg_global')"
                     + " and pg_tablespace_location(oid) like '/%'")) {
            while (rs.next()) {
                tablespaces.add(new Tablespace(rs.getString(1), rs.getString(2)));
            }
        }
        return tablespaces;
    }

    /** The locations of the user tablespaces, as the server gives them (empty for an in-place one). */
    public List<String> tablespaceLocations() throws SQLException {
        List<String> locations = new ArrayList<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_tablespace_location(oid) from pg_tablespace"
                     + " where spcname not in ('pg_default', 'pg_global')")) {
            while (rs.next()) {
                locations.add(rs.getString(1));
            }
        }
        return locations;
    }

    // ---- databases (dumps and dump restores) ----

    /** A database by its oid: its name and whether it takes connections. */
    public record DatabaseEntry(long oid, String name, boolean allowsConnections) {
    }

    public List<DatabaseEntry> databases() throws SQLException {
        List<DatabaseEntry> all = new ArrayList<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select oid::int8, datname, datallowconn from pg_database")) {
            while (rs.next()) {
                all.add(new DatabaseEntry(rs.getLong(1), rs.getString(2), rs.getBoolean(3)));
            }
        }
        return all;
    }

    /**
     * Of these relation files (tablespace oid and file number, pairwise), those no relation of the connected database
     * (or shared catalog) uses: pg_filenode_relation finds none. A restore asks it of files its replay created.
     */
    public List<long[]> unusedRelationFiles(List<long[]> files) throws SQLException {
        Long[] tablespaces = files.stream().map(f -> f[0]).toArray(Long[]::new);
        Long[] numbers = files.stream().map(f -> f[1]).toArray(Long[]::new);
        List<long[]> unused = new ArrayList<>();
        try (PreparedStatement st = c.prepareStatement("select t.spc, t.f from unnest(?::int8[], ?::int8[]) as t(spc, f)"
                + " where pg_filenode_relation(t.spc::oid, t.f::oid) is null")) {
            st.setArray(1, c.createArrayOf("int8", tablespaces));
            st.setArray(2, c.createArrayOf("int8", numbers));
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    unused.add(new long[]{rs.getLong(1), rs.getLong(2)});
                }
            }
        }
        return unused;
    }

    public List<String> databaseNames() throws SQLException {
        return names("select datname from pg_database");
    }

    /** The databases a dump of the whole server covers: those that accept connections and are no template, by name. */
    public List<String> connectableDatabases() throws SQLException {
        return names("select datname from pg_database where datallowconn and not datistemplate order by datname");
    }

    private List<String> names(String sql) throws SQLException {
        List<String> names = new ArrayList<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        }
        return names;
    }

    public boolean databaseExists(String database) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("select 1 from pg_database where datname = ?")) {
            st.setString(1, database);
            try (ResultSet rs = st.executeQuery()) {
                return rs.next();
            }
        }
    }

    /** Whether the connected role may replace a database's objects (superuser or owner), its owner, whether it is a template. */
    public record DatabaseOwnership(boolean mayReplace, String owner, boolean template) {
    }

    /** Empty when the database does not exist. */
    public Optional<DatabaseOwnership> databaseOwnership(String database) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("select r.rolsuper or pg_has_role(d.datdba, 'usage'),"
                + " pg_get_userbyid(d.datdba), d.datistemplate from pg_roles r, pg_database d where r.rolname = current_user"
                + " and d.datname = ?")) {
            st.setString(1, database);
            try (ResultSet rs = st.executeQuery()) {
                return rs.next() ? Optional.of(new DatabaseOwnership(rs.getBoolean(1), rs.getString(2), rs.getBoolean(3)))
                        : Optional.empty();
            }
        }
    }

    /** The tables, views and sequences of the connected database outside the system schemas. */
    public long userRelations() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                     + " where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'"
                     + " and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    // ---- standbys and recovery ----

    /**
     * How far a standby replayed compared with a primary's position: still in recovery, replay paused, caught up with
     * it, its replay position, and the age of its last replayed transaction.
     */
    public record StandbyReplay(boolean inRecovery, boolean paused, boolean caughtUp, String replayLsn, String lastReplayAge) {
    }

    public StandbyReplay standbyReplay(String primaryLsn) throws SQLException {
        try (PreparedStatement st = c.prepareStatement(
                "select pg_is_in_recovery(), pg_is_wal_replay_paused(), pg_last_wal_replay_lsn() >= ?::pg_lsn,"
                        + " pg_last_wal_replay_lsn()::text, now() - pg_last_xact_replay_timestamp()")) {
            st.setString(1, primaryLsn);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return new StandbyReplay(rs.getBoolean(1), rs.getBoolean(2), rs.getBoolean(3), rs.getString(4), rs.getString(5));
            }
        }
    }

    /** The recovery conflicts a standby counted so far (all databases), -1 when it returns nothing. */
    public long recoveryConflicts() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select coalesce(sum(confl_tablespace + confl_lock + confl_snapshot + confl_bufferpin"
                     + " + confl_deadlock), 0) from pg_stat_database_conflicts")) {
            return rs.next() ? rs.getLong(1) : -1;
        }
    }

    /** A restored server's recovery: still in it, the last replayed transaction's time and position, paused. */
    public record RecoveryState(boolean inRecovery, Instant lastReplayed, String replayLsn, boolean paused) {
    }

    /** The pause is asked for from PostgreSQL 10 (versionNum 100000) on; older servers answer false. */
    public RecoveryState recoveryState(int versionNum) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_is_in_recovery(), pg_last_xact_replay_timestamp(),"
                     + " pg_last_wal_replay_lsn()::text, (select timeline_id from pg_control_checkpoint()), "
                     + (versionNum >= 100000
                     ? "case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end" : "false"))) {
            rs.next();
            return new RecoveryState(rs.getBoolean(1), rs.getTimestamp(2) == null ? null : rs.getTimestamp(2).toInstant(),
                    rs.getString(3), rs.getBoolean(5));
        }
    }

    // ---- what a dashboard shows ----

    /** Version, client connections, max_connections, size of the databases, size of pg_wal (null when not asked). */
    public record Usage(String version, int connections, int maxConnections, long databaseBytes, Long walBytes) {
    }

    /**
     * The size of pg_wal needs pg_ls_waldir, which only pg_monitor (or a superuser) may call: the privilege is asked
     * first, so a role without it never writes "permission denied" into the server's log; walBytes is then null.
     */
    public Usage usage(int timeoutSeconds) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.setQueryTimeout(timeoutSeconds);
            boolean mayListWal;
            // a separate question: PostgreSQL checks a function's privilege when the query starts, whatever branch calls it
            try (ResultSet r = s.executeQuery("select has_function_privilege('pg_catalog.pg_ls_waldir()', 'execute')")) {
                mayListWal = r.next() && r.getBoolean(1);
            }
            try (ResultSet r = s.executeQuery("""
                    select current_setting('server_version'),
                           (select count(*) from pg_stat_activity where backend_type = 'client backend'),
                           current_setting('max_connections')::int,
                           (select sum(pg_database_size(oid)) from pg_database where datallowconn)
                    """ + (mayListWal ? ", (select coalesce(sum(size), 0) from pg_ls_waldir())" : ""))) {
                r.next();
                return new Usage(r.getString(1), r.getInt(2), r.getInt(3), r.getLong(4), mayListWal ? r.getLong(5) : null);
            }
        }
    }

    /**
     * The sync_state of the newest walsender serving applicationName ("sync", "quorum", "potential", "async"), empty
     * when none does.
     */
    public Optional<String> syncState(String applicationName) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "select sync_state from pg_stat_replication where application_name = ? order by backend_start desc limit 1")) {
            ps.setString(1, applicationName);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.ofNullable(rs.getString(1)) : Optional.empty();
            }
        }
    }

    /**
     * Wakes a recovery paused at its target that was asked to promote: paused, the startup process looks for the
     * promotion once a second, sleeping on the pause's condition variable, which only a resume wakes. A resume alone
     * ends the pause before the promotion is looked for (recovery then ends with a checkpoint it waits for, as without
     * promoting); resumed and at once paused again, it wakes, finds itself still paused and looks for the promotion. If
     * the startup process runs between the two, it ends recovery as after a resume: slower, never less safe. Needs the
     * privilege of both functions (a superuser's).
     */
    public void wakePausedRecovery() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("select pg_wal_replay_resume(), pg_wal_replay_pause()")) {
            rs.next();
        }
    }

    /** The GIDs of the server's prepared transactions, oldest first. */
    public List<String> preparedTransactions() throws SQLException {
        return names("select gid from pg_prepared_xacts order by prepared");
    }

    /**
     * Has the server reload its configuration files (pg_reload_conf) and waits until this session has reloaded too: the
     * postmaster reloads first, then signals every process, so from then on every new session has what the files say.
     * False when that was not seen within timeout.
     */
    public boolean reloadConfiguration(java.time.Duration timeout) throws SQLException, InterruptedException {
        try (Statement st = c.createStatement()) {
            String loaded = loadTime(st);
            st.execute("select pg_reload_conf()");
            long deadline = System.nanoTime() + timeout.toNanos();
            while (loaded.equals(loadTime(st))) {
                if (System.nanoTime() > deadline) {
                    return false;
                }
                Thread.sleep(10);
            }
            return true;
        }
    }

    private static String loadTime(Statement st) throws SQLException {
        try (ResultSet r = st.executeQuery("select pg_conf_load_time()::text")) {
            r.next();
            return r.getString(1);
        }
    }

    /** The settings the configuration files change but only a restart would apply, comma-separated; empty when none. */
    public Optional<String> pendingRestart() throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet r = st.executeQuery("select string_agg(name, ', ' order by name) from pg_settings where pending_restart")) {
            r.next();
            return Optional.ofNullable(r.getString(1));
        }
    }

    /**
     * Whether the setting runs with the value the configuration files give it as they are now (the last one they set, or
     * PostgreSQL's default where none does); a boolean compared as PostgreSQL reads one (on, true, yes, 1...).
     */
    public boolean runsAsFilesSay(String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select s.setting, coalesce((select f.setting from pg_file_settings f"
                + " where f.name = s.name and f.error is null order by f.seqno desc limit 1), s.boot_val)"
                + " from pg_settings s where s.name = ?")) {
            ps.setString(1, name);
            try (ResultSet r = ps.executeQuery()) {
                return r.next() && sameSetting(r.getString(1), r.getString(2));
            }
        }
    }

    /** A running value against a value as a file writes it: booleans (and archive_mode's on, off) as PostgreSQL reads them. */
    static boolean sameSetting(String running, String inFile) {
        if (running == null || inFile == null) {
            return false;
        }
        String file = switch (inFile.strip().toLowerCase(java.util.Locale.ROOT)) {
            case "on", "true", "yes", "1", "t", "tr", "tru", "y", "ye" -> "on";
            case "off", "false", "no", "0", "f", "fa", "fal", "fals", "n", "of" -> "off";
            case String other -> other;
        };
        return running.equalsIgnoreCase(file);
    }
}
