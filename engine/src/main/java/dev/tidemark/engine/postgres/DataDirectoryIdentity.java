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
}
