package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DatabaseEvent.*;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.postgres.WalSegment;

import java.time.Instant;
import java.util.List;

/** Builds database histories from events, for tests of the pure catalog functions. */
final class Histories {
    static final String CHAIN = "7300000000000000001-15";
    private final DatabaseHistory history = new DatabaseHistory();
    private long sequence;

    static Histories registered(Instant at) {
        Histories h = new Histories();
        h.apply(new DatabaseRegistered("db", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null, Policy.defaults(), at));
        return h;
    }

    Histories apply(DatabaseEvent event) {
        history.apply(event, sequence++);
        return this;
    }

    static String segment(long n) {
        return new WalSegment(1, n, 16L << 20).name();
    }

    /** A completed base backup starting in segment n, consistent at the given time. */
    Histories backup(String id, long startSegment, Instant consistent) {
        apply(new BaseBackupRequested("db", id, "scheduled", consistent.minusSeconds(60)));
        apply(new BaseBackupStarted("db", id, "node-1", false, consistent.minusSeconds(59)));
        return apply(new BaseBackupCompleted("db", id, CHAIN, 1, "0/" + Long.toHexString(startSegment << 24), segment(startSegment),
                "0/" + Long.toHexString((startSegment << 24) + 0x100), consistent.minusSeconds(58), consistent, 1000, 100, "db/db/base/" + id
                + "/manifest", "ab".repeat(32), 0, consistent.plusSeconds(1)));
    }

    /** WAL segments first..last complete, covering times up to lastTime. */
    Histories wal(long first, long last, Instant firstTime, Instant lastTime) {
        return apply(new WalArchived("db", CHAIN, 1, segment(first), segment(last), firstTime, lastTime, (last - first + 1) << 24,
                "0/" + Long.toHexString((last + 1) << 24)));
    }

    Histories dump(String id, String trigger, Instant at) {
        apply(new DumpRequested("db", id, List.of(), trigger, at));
        apply(new DumpStarted("db", id, false, at));
        return apply(new DumpCompleted("db", id, List.of(new DumpArchive("postgres", "db/db/dump/" + id + "/0000.dump", "cd".repeat(32),
                10, 5)), "db/db/dump/" + id + "/dump", at.plusSeconds(30)));
    }

    DatabaseHistory get() {
        return history.copy();
    }
}
