package dev.tidemark.storage;

import java.time.Instant;

/** What a store knows about one object: its key, its size in bytes and when it was last written. */
public record ObjectInfo(String key, long size, Instant lastModified) {
}
