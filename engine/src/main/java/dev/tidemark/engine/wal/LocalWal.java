package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.DataDirectoryIdentity;
import dev.tidemark.engine.postgres.WalSegment;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Objects;

/**
 * Completed WAL segments read straight from the primary's {@code pg_wal}, for catching up with a backlog (after an
 * outage, an engine stop, a first registration behind a slot holding WAL). Reading files costs the server nothing and
 * the engine less than the replication protocol; what is read is trusted only as far as it proves itself:
 * <ul>
 * <li>the directory is the live one of the server the stream is connected to (system identifier, port and start time
 * in postmaster.pid; no standby.signal), checked before a catch-up;</li>
 * <li>only segments the server has flushed completely are read, and the replication slot keeps them from being
 * recycled;</li>
 * <li>every page header of a segment must name that segment's position and system, or be the zeroed padding that
 * follows a segment switch; a recycled file, renamed during the read, is refused as well.</li>
 * </ul>
 * Anything else ends the catch-up, and the stream takes over from the same position.
 */
final class LocalWal {
    /** XLP_LONG_HEADER: the first page of a segment carries the long header. */
    private static final int LONG_HEADER = 0x0002;
    /** SizeOfXLogShortPHD: the page header every page opens with (20 bytes, aligned to 8). */
    private static final int SHORT_HEADER = 24;

    private final Path walDirectory;

    private LocalWal(Path walDirectory) {
        this.walDirectory = walDirectory;
    }

    /**
     * The pg_wal of pgdata when pgdata is the live data directory of the primary with this system identifier, port and
     * start time (seconds since the epoch); otherwise an exception whose message says why not.
     */
    static LocalWal of(Path pgdata, String systemId, int port, long startedEpochSecond) throws UnusableException {
        String mismatch = DataDirectoryIdentity.mismatch(pgdata, systemId, port);
        if (mismatch != null) {
            throw new UnusableException(mismatch);
        }
        for (String signal : List.of("standby.signal", "recovery.signal")) {
            if (Files.exists(pgdata.resolve(signal))) {
                throw new UnusableException(pgdata + " holds " + signal + ": it is not the primary's data directory");
            }
        }
        List<String> pid;
        try {
            pid = Files.readAllLines(pgdata.resolve("postmaster.pid"));
        } catch (IOException e) {
            throw new UnusableException(pgdata + "/postmaster.pid cannot be read (" + e.getMessage() + ")");
        }
        long started;
        try {
            started = Long.parseLong(pid.size() > 2 ? pid.get(2).trim() : "");
        } catch (NumberFormatException e) {
            throw new UnusableException(pgdata + "/postmaster.pid has no start time");
        }
        if (Math.abs(started - startedEpochSecond) > 2) {
            throw new UnusableException(pgdata + " belongs to a server started at " + started + " (epoch seconds), not to the one"
                    + " streamed from (started at " + startedEpochSecond + ")");
        }
        Path wal = pgdata.resolve("pg_wal");
        if (!Files.isDirectory(wal) || !Files.isReadable(wal)) {
            throw new UnusableException(wal + " is not a directory this engine can read");
        }
        return new LocalWal(wal);
    }

    /**
     * Reads segment into buffer (exactly its size). Returns null when it was read and proved itself, otherwise why not:
     * the file is missing, has another size, was renamed (recycled) during the read, or a page header does not fit.
     */
    String read(WalSegment segment, long systemId, byte[] buffer) throws IOException {
        Path file = walDirectory.resolve(segment.name());
        Object before;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            before = Files.readAttributes(file, BasicFileAttributes.class).fileKey();
            if (channel.size() != buffer.length) {
                return file + " has " + channel.size() + " bytes, not " + buffer.length;
            }
            ByteBuffer target = ByteBuffer.wrap(buffer);
            while (target.hasRemaining()) {
                if (channel.read(target) < 0) {
                    return file + " ended early";
                }
            }
        } catch (NoSuchFileException e) {
            return file + " is not there";
        }
        Object after;
        try {
            after = Files.readAttributes(file, BasicFileAttributes.class).fileKey();
        } catch (NoSuchFileException e) {
            return file + " was removed while it was read";
        }
        if (!Objects.equals(before, after)) {
            return file + " was replaced while it was read";
        }
        return invalid(buffer, segment, systemId);
    }

    /**
     * Null when every page header of the segment's bytes belongs to it: the long header on the first page with this system
     * identifier and segment size, and on every later page the same magic and the page's own position; or, from some page
     * on, the zeroed headers of the padding a segment switch leaves. Otherwise what does not fit.
     */
    static String invalid(byte[] data, WalSegment segment, long systemId) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        long start = segment.start().value();
        int magic = Short.toUnsignedInt(b.getShort(0));
        int info = Short.toUnsignedInt(b.getShort(2));
        if (magic == 0 || (info & LONG_HEADER) == 0) {
            return "segment " + segment.name() + " does not open with a long page header";
        }
        if (b.getLong(24) != systemId) {
            return "segment " + segment.name() + " belongs to system " + Long.toUnsignedString(b.getLong(24));
        }
        if (Integer.toUnsignedLong(b.getInt(32)) != data.length) {
            return "segment " + segment.name() + " says its segments have " + Integer.toUnsignedLong(b.getInt(32)) + " bytes";
        }
        int pageSize = b.getInt(36);
        if (pageSize < 1024 || pageSize > 65536 || Integer.bitCount(pageSize) != 1) {
            return "segment " + segment.name() + " has an impossible page size " + pageSize;
        }
        boolean padding = false;
        for (int offset = 0; offset < data.length; offset += pageSize) {
            if (!padding && offset > 0 && zeros(data, offset, SHORT_HEADER)) {
                padding = true; // the rest of a segment ended by a switch: zeroed pages, headers too
            }
            if (padding) {
                if (!zeros(data, offset, SHORT_HEADER)) {
                    return "segment " + segment.name() + " has a page header at offset " + offset + " after its padding";
                }
                continue;
            }
            long tli = Integer.toUnsignedLong(b.getInt(offset + 4));
            if (Short.toUnsignedInt(b.getShort(offset)) != magic || b.getLong(offset + 8) != start + offset
                    || tli < 1 || tli > segment.timeline()) {
                return "the page at offset " + offset + " of segment " + segment.name() + " belongs elsewhere (page address "
                        + Long.toHexString(b.getLong(offset + 8)) + ", timeline " + tli + ")";
            }
        }
        return null;
    }

    private static boolean zeros(byte[] data, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            if (data[i] != 0) {
                return false;
            }
        }
        return true;
    }

    /** Why a data directory's pg_wal cannot be read for a catch-up. */
    static final class UnusableException extends Exception {
        UnusableException(String message) {
            super(message);
        }
    }
}
