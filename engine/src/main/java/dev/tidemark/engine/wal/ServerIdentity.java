package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.ServerQueries;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * What a stream learns of its server on connecting: the system and timeline (IDENTIFY_SYSTEM), the chain they make with
 * the major version ("SYSID-MAJOR"), and the settings the stream goes by.
 */
record ServerIdentity(String chain, String systemId, int port, int timeline, Lsn position, long segmentSize, boolean standby) {

    static ServerIdentity identify(Connection replication, Connection sql) throws SQLException {
        ServerQueries.SystemIdentity system = new ServerQueries(replication).identifySystem();
        ServerQueries.StreamSettings s = new ServerQueries(sql).streamSettings();
        return new ServerIdentity(system.systemId() + "-" + s.major(), system.systemId(), s.port(), system.timeline(), system.position(),
                s.walSegmentSize(), s.inRecovery());
    }
}
