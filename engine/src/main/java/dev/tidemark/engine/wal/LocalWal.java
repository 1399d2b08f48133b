package dev.tidemark.engine.wal;

import dev.tidemark.engine.postgres.DataDirectoryIdentity;
import dev.tidemark.engine.postgres.WalSegment;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.sql.Connection;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Completed WAL segments read straight from the primary's {@code pg_wal}, for catching up with a backlog (after an
 * outage, an engine stop, a first registration behind a slot holding WAL). Reading files costs the server nothing and
 * the engine less than the replication protocol; what is read is trusted only as far as it proves itself:
 * <ul>
 * <li>the directory is the live one of the server the stream is connected to (system identifier and port; no
 * standby.signal; a temporary slot the server creates appears in it), checked before a catch-up;</li>
 * <li>only segments the server has flushed completely are read, and the replication slot keeps them from being
 * recycled;</li>
 * <li>every page header of a segment must name that segment's position and system, or be the zeroed padding that
 * follows a proven segment switch record; a recycled file, renamed during the read, is refused as well.</li>
 * </ul>
 * Anything else ends the catch-up, and the stream takes over from the same position.
 */
final class LocalWal {
    /** XLP_LONG_HEADER: the first page of a segment carries the long header. */
    private static final int LONG_HEADER = 0x0002;
    /** XLP_FIRST_IS_CONTRECORD: the page opens with the rest of a record begun on the page before. */
    private static final int FIRST_IS_CONTRECORD = 0x0001;
    /** SizeOfXLogShortPHD: the page header every page opens with (20 bytes, aligned to 8). */
    private static final int SHORT_HEADER = 24;
    /** SizeOfXLogLongPHD: the first page's header. */
    private static final int LONG_PAGE_HEADER = 40;
    /** SizeOfXLogRecord: a record's header, and the whole of an XLOG_SWITCH record. */
    private static final int RECORD_HEADER = 24;
    private static final byte[] ZERO_PAGE = new byte[65536];
    /** XLOG_SWITCH in xl_info (resource manager 0, RM_XLOG_ID). */
    private static final int XLOG_SWITCH = 0x40;

    private final Path walDirectory;

    private LocalWal(Path walDirectory) {
        this.walDirectory = walDirectory;
    }

    /**
     * The pg_wal of pgdata when pgdata is the live data directory of the primary with this system identifier and port,
     * proved by a temporary replication slot the server creates (its directory appears in pgdata's pg_replslot): a copy
     * of the directory, a snapshot or a stale mount would pass the identity checks but not that one. Otherwise an
     * exception whose message says why not.
     */
    static LocalWal of(Path pgdata, String systemId, int port, Connection sql) throws UnusableException {
        for (String signal : List.of("standby.signal", "recovery.signal")) {
            if (Files.exists(pgdata.resolve(signal))) {
                throw new UnusableException(pgdata + " holds " + signal + ": it is not the primary's data directory");
            }
        }
        Path wal = pgdata.resolve("pg_wal");
        if (!Files.isDirectory(wal) || !Files.isReadable(wal)) {
            throw new UnusableException(wal + " is not a directory this engine can read");
        }
        String mismatch = DataDirectoryIdentity.mismatch(pgdata, systemId, port, sql);
        if (mismatch != null) {
            throw new UnusableException(mismatch);
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
        } catch (ClosedByInterruptException e) {
            throw e;
        } catch (IOException e) {
            return file + " cannot be read (" + e + ")";
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
        int padding = -1; // offset of the first page of a switch's padding
        for (int offset = 0; offset < data.length; offset += pageSize) {
            if (offset > 0 && firstNonZero(data, offset, offset + SHORT_HEADER) < 0) {
                padding = offset; // from here on: the zeroed pages a segment switch leaves, proved below
                break;
            }
            long tli = Integer.toUnsignedLong(b.getInt(offset + 4));
            if (Short.toUnsignedInt(b.getShort(offset)) != magic || b.getLong(offset + 8) != start + offset
                    || tli < 1 || tli > segment.timeline()) {
                return "the page at offset " + offset + " of segment " + segment.name() + " belongs elsewhere (page address "
                        + Long.toHexString(b.getLong(offset + 8)) + ", timeline " + tli + ")";
            }
        }
        return padding < 0 ? null : provenSwitch(b, data, segment, padding - pageSize, pageSize);
    }

    /**
     * Zeroed pages are the padding of a segment switch only when the last record before them is an XLOG_SWITCH record
     * (with its CRC) and every byte after it is zero; a file the server had not finished writing (zero-filled when
     * created) looks the same up to that record. Null when proved; otherwise why not.
     */
    private static String provenSwitch(ByteBuffer b, byte[] data, WalSegment segment, int page, int pageSize) {
        int info = Short.toUnsignedInt(b.getShort(page + 2));
        int pos = page + ((info & LONG_HEADER) != 0 ? LONG_PAGE_HEADER : SHORT_HEADER);
        int pageEnd = page + pageSize;
        if ((info & FIRST_IS_CONTRECORD) != 0) {
            long rest = Integer.toUnsignedLong(b.getInt(page + 16));
            if (rest > pageEnd - pos) {
                return "segment " + segment.name() + " has zeroed pages where a record goes on (offset " + (page + pageSize) + ")";
            }
            pos += (int) maxAlign(rest);
        }
        int last = -1;
        while (pos + RECORD_HEADER <= pageEnd) {
            long length = Integer.toUnsignedLong(b.getInt(pos));
            if (length == 0) {
                break;
            }
            if (length < RECORD_HEADER || length > pageEnd - pos) {
                return "segment " + segment.name() + " has zeroed pages where a record goes on (offset " + pos + ")";
            }
            last = pos;
            pos += (int) maxAlign(length);
        }
        if (last < 0 || b.getInt(last) != RECORD_HEADER || data[last + 17] != 0 || (data[last + 16] & 0xF0) != XLOG_SWITCH) {
            return "segment " + segment.name() + " has zeroed pages from offset " + (page + pageSize) + " that no segment switch"
                    + " record on the page before them proves (one split across two pages is not followed)";
        }
        CRC32C crc = new CRC32C();
        crc.update(data, last, 20);
        if ((int) crc.getValue() != b.getInt(last + 20)) {
            return "segment " + segment.name() + " has a segment switch record at offset " + last + " whose CRC does not match";
        }
        int nonZero = firstNonZero(data, last + RECORD_HEADER, data.length);
        return nonZero < 0 ? null : "segment " + segment.name() + " has data at offset " + nonZero + ", after its segment switch";
    }

    private static long maxAlign(long n) {
        return (n + 7) & ~7L;
    }

    /** The offset of the first byte in [from, to) that is not zero, or -1. */
    private static int firstNonZero(byte[] data, int from, int to) {
        for (int at = from; at < to; at += ZERO_PAGE.length) {
            int length = Math.min(ZERO_PAGE.length, to - at);
            int nonZero = Arrays.mismatch(data, at, at + length, ZERO_PAGE, 0, length);
            if (nonZero >= 0) {
                return at + nonZero;
            }
        }
        return -1;
    }

    /** Why a data directory's pg_wal cannot be read for a catch-up. */
    static final class UnusableException extends Exception {
        UnusableException(String message) {
            super(message);
        }
    }
}
