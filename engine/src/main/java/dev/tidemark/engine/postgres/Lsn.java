package dev.tidemark.engine.postgres;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A PostgreSQL write-ahead log position ("16/B374D848"), ordered as the server orders it. */
public record Lsn(long value) implements Comparable<Lsn> {
    private static final Pattern TEXT = Pattern.compile("([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})");
    public static final Lsn ZERO = new Lsn(0);

    public Lsn {
        if (value < 0) {
            throw new IllegalArgumentException("an LSN cannot be negative: " + value);
        }
    }

    /** Parses the server's text form, e.g. "0/3000028". */
    public static Lsn parse(String text) {
        Matcher m = text == null ? null : TEXT.matcher(text.trim());
        if (m == null || !m.matches()) {
            throw new IllegalArgumentException("invalid LSN '" + text + "': expected two hex numbers like 0/3000028");
        }
        return new Lsn((Long.parseLong(m.group(1), 16) << 32) | Long.parseLong(m.group(2), 16));
    }

    public Lsn plus(long bytes) {
        return new Lsn(value + bytes);
    }

    /** The first byte of the segment holding this position. */
    public Lsn segmentStart(long segmentSize) {
        return new Lsn(value - Long.remainderUnsigned(value, segmentSize));
    }

    public boolean isAfter(Lsn other) {
        return value > other.value;
    }

    @Override
    public int compareTo(Lsn other) {
        return Long.compareUnsigned(value, other.value);
    }

    @Override
    public String toString() {
        return String.format("%X/%X", value >>> 32, value & 0xFFFFFFFFL);
    }
}
