package dev.tidemark.storage.codec;

/**
 * How new objects are written: compression and level, and the master key (null: no encryption, only when the
 * operator said so). Reading follows each object's own header, so settings can change over a repository's life.
 */
public record CodecSettings(Compression compression, int level, MasterKey key) {
    public CodecSettings {
        if (compression == null) {
            throw new IllegalArgumentException("compression is required");
        }
        if (compression == Compression.ZSTD && (level < 1 || level > 19)) {
            throw new IllegalArgumentException("zstd level " + level + " is out of range: use 1 (fastest) to 19 (smallest)");
        }
    }

    /** zstd level 3, AES-256-GCM under the key. */
    public static CodecSettings defaults(MasterKey key) {
        return new CodecSettings(Compression.ZSTD, 3, key);
    }
}
