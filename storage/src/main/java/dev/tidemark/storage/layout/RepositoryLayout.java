package dev.tidemark.storage.layout;

import dev.tidemark.storage.AppendedPieces;

import java.util.regex.Pattern;

/**
 * Builds every object key of the repository from validated identifiers, so no user string reaches a key unchecked.
 *
 * <pre>
 * db/{database}/chains/{chain}/wal/{24 hex}          a complete WAL segment
 * db/{database}/chains/{chain}/wal/{24 hex}.partial  the segment being written, replaced as it grows
 * db/{database}/chains/{chain}/wal/{24 hex}.partial.{8 hex}-{8 hex}  a piece of it appended in synchronous mode: its
 *                                                    bytes from the first offset to the second (read after the .partial)
 * db/{database}/chains/{chain}/wal/{24 hex}.partial.appended  the same pieces appended as records to one object, where
 *                                                    the store can grow one (a file repository)
 * db/{database}/chains/{chain}/wal/{8 hex}.history   a timeline history file
 * db/{database}/chains/{chain}/wal/{24 hex}.conflict-{sha}  a segment that arrived with other content, set aside
 * db/{database}/base/{backup}/manifest               written last: a base backup without it does not exist
 * db/{database}/base/{backup}/data/{n}               bundles of data-directory files
 * db/{database}/dump/{dump}/dump                     a pg_dump -Fc archive
 * db/{database}/events/{20 digits}                   catalog events from that sequence number on, a batch
 * </pre>
 * A chain is one PostgreSQL system (system identifier and major version); a re-initialised or upgraded
 * server starts a new chain so WAL of two systems never mixes.
 */
public final class RepositoryLayout {
    /** Database ids: lower-case letters, digits and dashes, starting with a letter or digit, at most 63 characters. */
    public static final Pattern DATABASE_ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    /** Backup, dump and restore ids. */
    public static final Pattern OBJECT_ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    /** A chain: system identifier and major version, e.g. "7301234567890123456-15". */
    public static final Pattern CHAIN_ID = Pattern.compile("[0-9]{1,20}-[0-9]{1,3}");
    public static final Pattern WAL_SEGMENT = Pattern.compile("[0-9A-F]{24}");
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{8,64}");
    public static final Pattern TIMELINE_HISTORY = Pattern.compile("[0-9A-F]{8}\\.history");

    private final String prefix;

    /** prefix: an optional leading path inside the store ("" for none); validated like the rest. */
    public RepositoryLayout(String prefix) {
        if (prefix == null || prefix.isEmpty()) {
            this.prefix = "";
        } else {
            if (!prefix.matches("[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*") || prefix.contains("..")) {
                throw new InvalidIdentifierException("repository prefix", prefix,
                        "letters, digits, '.', '_', '-' separated by single '/', without '..'");
            }
            this.prefix = prefix + "/";
        }
    }

    /** The prefix of every object of the repository ("" when the store holds nothing else). */
    public String root() {
        return prefix;
    }

    /** Where every database's objects live (the whole repository but the key check, the installation and the writer records). */
    public String databasesPrefix() {
        return prefix + "db/";
    }

    /**
     * The repository's key record: a small object encoded with the repository's master key, naming the key (and, while a key
     * rotation runs, the keys it rotates from); proves at start-up that the configured key is that key.
     */
    public String keyCheck() {
        return prefix + "repository-key-check";
    }

    /**
     * The repository's installation record: a small encoded object naming the engine installation (its catalog) that writes
     * the repository, so that an engine of another installation is refused instead of writing beside it.
     */
    public String installation() {
        return prefix + "repository-installation";
    }

    /**
     * The repository's writer record: a small encoded object naming the catalog whose engines write the repository now, with
     * a heartbeat they renew, so that an engine of another catalog (a new host of a lost engine, an old host come back)
     * neither writes beside a live writer nor after being taken over.
     */
    public String writer() {
        return prefix + "repository-writer";
    }

    public String databasePrefix(String database) {
        return prefix + "db/" + check("database id", database, DATABASE_ID) + "/";
    }

    public String walPrefix(String database, String chain) {
        return databasePrefix(database) + "chains/" + check("chain id", chain, CHAIN_ID) + "/wal/";
    }

    public String walSegment(String database, String chain, String segment) {
        return walPrefix(database, chain) + check("WAL segment name", segment, WAL_SEGMENT);
    }

    public String walPartial(String database, String chain, String segment) {
        return walSegment(database, chain, segment) + ".partial";
    }

    /** A piece of the segment being written: its bytes from offset start (inclusive) to end (exclusive). */
    public String walPartialPiece(String database, String chain, String segment, long start, long end) {
        if (start < 0 || end <= start || end > 0xFFFFFFFFL) {
            throw new InvalidIdentifierException("partial segment piece", start + "-" + end, "0 <= start < end < 2^32");
        }
        return walPartial(database, chain, segment) + String.format(".%08X-%08X", start, end);
    }

    /** The pieces of the segment being written appended to one object, where the store can grow one (AppendedPieces). */
    public String walPartialAppended(String database, String chain, String segment) {
        return walPartial(database, chain, segment) + AppendedPieces.SUFFIX;
    }

    /** Where a segment that arrived with other content than the stored one is set aside (the first one is kept). */
    public String walConflict(String database, String chain, String segment, String checksumPrefix) {
        return walSegment(database, chain, segment) + ".conflict-" + check("checksum prefix", checksumPrefix, HEX);
    }

    public String timelineHistory(String database, String chain, int timeline) {
        if (timeline < 1) {
            throw new InvalidIdentifierException("timeline", Integer.toString(timeline), "a positive number");
        }
        return walPrefix(database, chain) + String.format("%08X.history", timeline);
    }

    public String baseBackupPrefix(String database, String backup) {
        return databasePrefix(database) + "base/" + check("backup id", backup, OBJECT_ID) + "/";
    }

    public String baseBackupManifest(String database, String backup) {
        return baseBackupPrefix(database, backup) + "manifest";
    }

    public String baseBackupBundle(String database, String backup, int bundle) {
        if (bundle < 0) {
            throw new InvalidIdentifierException("bundle number", Integer.toString(bundle), "zero or more");
        }
        return baseBackupPrefix(database, backup) + "data/" + String.format("%08d", bundle);
    }

    public String dumpPrefix(String database, String dump) {
        return databasePrefix(database) + "dump/" + check("dump id", dump, OBJECT_ID) + "/";
    }

    public String dumpObject(String database, String dump) {
        return dumpPrefix(database, dump) + "dump";
    }

    /** Where the catalog's events of a database are kept, in batches named by their first sequence number. */
    public String eventsPrefix(String database) {
        return databasePrefix(database) + "events/";
    }

    public String eventBatch(String database, long firstSequence) {
        if (firstSequence < 0) {
            throw new InvalidIdentifierException("event sequence number", Long.toString(firstSequence), "zero or more");
        }
        return eventsPrefix(database) + String.format("%020d", firstSequence);
    }

    /** Returns value when it matches pattern, otherwise throws an error naming what was expected. */
    public static String check(String what, String value, Pattern pattern) {
        if (value == null || !pattern.matcher(value).matches()) {
            throw new InvalidIdentifierException(what, value, "must match " + pattern.pattern());
        }
        return value;
    }
}
