package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * What a stream learns of its server on connecting: the system and timeline (IDENTIFY_SYSTEM), the chain they make with
 * the major version ("SYSID-MAJOR"), and the settings the stream goes by.
 */
record ServerIdentity(String chain, String systemId, int port, int timeline, Lsn position, long segmentSize, boolean standby) {

    static ServerIdentity identify(Connection replication, Connection sql) throws SQLException {
        String systemId;
        int tli;
        Lsn position;
        try (Statement st = replication.createStatement(); ResultSet rs = st.executeQuery("IDENTIFY_SYSTEM")) {
            rs.next();
            systemId = rs.getString(1);
            tli = rs.getInt(2);
            position = Lsn.parse(rs.getString(3));
        }
        int major;
        long segmentSize;
        boolean standby;
        int port;
        try (Statement st = sql.createStatement();
             ResultSet rs = st.executeQuery("select current_setting('server_version_num')::int / 10000,"
                     + " (select setting::bigint from pg_settings where name = 'wal_segment_size'), pg_is_in_recovery(),"
                     + " current_setting('port')::int")) {
            rs.next();
            major = rs.getInt(1);
            segmentSize = rs.getLong(2);
            standby = rs.getBoolean(3);
            port = rs.getInt(4);
        }
        return new ServerIdentity(systemId + "-" + major, systemId, port, tli, position, segmentSize, standby);
    }
}
