package dev.tidemark.engine.catalog.api;

/** One database's pg_dump -Fc archive inside a dump: its object key, plaintext SHA-256 and sizes. */
public record DumpArchive(String database, String key, String sha256, long bytes, long storedBytes) {
}
