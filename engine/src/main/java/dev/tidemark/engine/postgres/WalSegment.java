package dev.tidemark.engine.postgres;

import dev.tidemark.storage.layout.RepositoryLayout;

/** One WAL segment file as PostgreSQL names it: timeline, and the segment number for a given segment size. */
public record WalSegment(int timeline, long number, long segmentSize) implements Comparable<WalSegment> {

    public WalSegment {
        if (timeline < 1) {
            throw new IllegalArgumentException("timeline must be positive, was " + timeline);
        }
        if (segmentSize < (1 << 20) || Long.bitCount(segmentSize) != 1) {
            throw new IllegalArgumentException("WAL segment size must be a power of two of at least 1 MiB, was " + segmentSize);
        }
    }

    public static WalSegment containing(int timeline, Lsn lsn, long segmentSize) {
        return new WalSegment(timeline, Long.divideUnsigned(lsn.value(), segmentSize), segmentSize);
    }

    /** Parses "000000010000000A000000FF" for the given segment size. */
    public static WalSegment parse(String name, long segmentSize) {
        RepositoryLayout.check("WAL segment name", name, RepositoryLayout.WAL_SEGMENT);
        int timeline = Integer.parseUnsignedInt(name.substring(0, 8), 16);
        long high = Long.parseLong(name.substring(8, 16), 16);
        long low = Long.parseLong(name.substring(16, 24), 16);
        long perId = 0x1_0000_0000L / segmentSize;
        if (low >= perId) {
            throw new IllegalArgumentException("WAL segment name " + name + " does not exist with " + segmentSize + "-byte segments");
        }
        return new WalSegment(timeline, high * perId + low, segmentSize);
    }

    public String name() {
        long perId = 0x1_0000_0000L / segmentSize;
        return String.format("%08X%08X%08X", timeline, number / perId, number % perId);
    }

    public Lsn start() {
        return new Lsn(number * segmentSize);
    }

    public Lsn end() {
        return new Lsn((number + 1) * segmentSize);
    }

    public WalSegment next() {
        return new WalSegment(timeline, number + 1, segmentSize);
    }

    public WalSegment onTimeline(int otherTimeline) {
        return new WalSegment(otherTimeline, number, segmentSize);
    }

    @Override
    public int compareTo(WalSegment o) {
        int c = Long.compare(number, o.number);
        return c != 0 ? c : Integer.compare(timeline, o.timeline);
    }

    @Override
    public String toString() {
        return name();
    }
}
