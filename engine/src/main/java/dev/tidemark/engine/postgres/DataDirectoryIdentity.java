package dev.tidemark.engine.postgres;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Checks that a data directory is the live one of a given server: the same system identifier in global/pg_control,
 * and a postmaster.pid naming the server's port. A backup of another directory (a second cluster on the host, a
 * copy, a directory moved aside by a restore) would complete and never restore.
 */
public final class DataDirectoryIdentity {
    private DataDirectoryIdentity() {
    }

    /** Null when pgdata is the live data directory of the server with this system identifier on this port; else why not. */
    public static String mismatch(Path pgdata, String serverSystemId, int serverPort) {
        byte[] head;
        try (var control = Files.newInputStream(pgdata.resolve("global").resolve("pg_control"))) {
            head = control.readNBytes(8);
        } catch (IOException e) {
            return pgdata + " has no readable global/pg_control (" + e.getMessage() + "): it is not a data directory this engine can read";
        }
        if (head.length < 8) {
            return pgdata + "/global/pg_control is truncated: it is not a data directory this engine can read";
        }
        // pg_control opens with the system identifier, a 64-bit integer in the machine's (little-endian) order
        String systemId = Long.toUnsignedString(ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getLong());
        if (!systemId.equals(serverSystemId)) {
            return pgdata + " is the data directory of database system " + systemId + ", but the server is system " + serverSystemId
                    + ": give the data directory of that server";
        }
        List<String> pid;
        try {
            pid = Files.readAllLines(pgdata.resolve("postmaster.pid"));
        } catch (NoSuchFileException e) {
            return pgdata + " has no running server (no postmaster.pid): it is a copy or an old directory of system " + systemId
                    + ", not the live data directory of the server on port " + serverPort;
        } catch (IOException e) {
            return pgdata + "/postmaster.pid cannot be read (" + e.getMessage() + ")";
        }
        if (pid.size() < 4 || !pid.get(3).trim().equals(Integer.toString(serverPort))) {
            return pgdata + " belongs to a server on port " + (pid.size() < 4 ? "?" : pid.get(3).trim()) + ", not to the server on port "
                    + serverPort + ": give the data directory of that server";
        }
        return null;
    }

    /**
     * Null when pgdata is the live data directory of the server behind this session, with this system identifier and port:
     * {@link #mismatch} first, then {@link #notLive}. Otherwise why not.
     */
    public static String mismatch(Path pgdata, String serverSystemId, int serverPort, java.sql.Connection session) {
        String mismatch = mismatch(pgdata, serverSystemId, serverPort);
        return mismatch != null ? mismatch : notLive(pgdata, session);
    }

    /**
     * Null when pgdata is the live data directory of the server behind this session: a temporary replication slot the
     * server creates appears in its pg_replslot. A copy of the live directory (postmaster.pid and all), a snapshot or a
     * stale mount passes {@link #mismatch} but not this. Otherwise why not.
     */
    private static String notLive(Path pgdata, java.sql.Connection session) {
        byte[] random = new byte[6];
        new java.security.SecureRandom().nextBytes(random);
        String probe = "tidemark_probe_" + java.util.HexFormat.of().formatHex(random);
        try {
            new ServerQueries(session).createTemporarySlot(probe);
        } catch (java.sql.SQLException e) {
            return "the server could not create a temporary replication slot to show that " + pgdata + " is its live directory ("
                    + e.getMessage().lines().findFirst().orElse("") + "): it needs one free slot (max_replication_slots) and a role"
                    + " with REPLICATION";
        }
        try {
            if (!Files.isDirectory(pgdata.resolve("pg_replslot").resolve(probe))) {
                return pgdata + " is not the server's live data directory (a copy, a snapshot or a stale mount): a temporary"
                        + " replication slot the server created is not in its pg_replslot";
            }
            return null;
        } finally {
            try {
                new ServerQueries(session).dropSlot(probe);
            } catch (java.sql.SQLException e) {
                // temporary: the server drops it when the session ends
            }
        }
    }
}
