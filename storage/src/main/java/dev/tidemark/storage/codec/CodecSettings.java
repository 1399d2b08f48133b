package dev.tidemark.storage.codec;

import java.util.ArrayList;
import java.util.List;

/**
 * How new objects are written: compression and level, and the master key (null: no encryption, only when the
 * operator said so). Reading follows each object's own header, so settings can change over a repository's life; it
 * takes the master key the header names from the key and the previous keys (kept configured while a key rotation runs).
 */
public record CodecSettings(Compression compression, int level, MasterKey key, List<MasterKey> previousKeys) {
    public CodecSettings {
        if (compression == null) {
            throw new IllegalArgumentException("compression is required");
        }
        if (compression == Compression.ZSTD && (level < 1 || level > 19)) {
            throw new IllegalArgumentException("zstd level " + level + " is out of range: use 1 (fastest) to 19 (smallest)");
        }
        previousKeys = previousKeys == null ? List.of() : List.copyOf(previousKeys);
        if (key == null && !previousKeys.isEmpty()) {
            throw new IllegalArgumentException("previous master keys without a master key: configure the key new objects are written with");
        }
    }

    /** Without previous keys. */
    public CodecSettings(Compression compression, int level, MasterKey key) {
        this(compression, level, key, List.of());
    }

    /** zstd level 3, AES-256-GCM under the key. */
    public static CodecSettings defaults(MasterKey key) {
        return new CodecSettings(Compression.ZSTD, 3, key);
    }

    /** The same, reading also with these keys. */
    public CodecSettings withPreviousKeys(List<MasterKey> previous) {
        return new CodecSettings(compression, level, key, previous);
    }

    /** Every key an object may be read with: the key first, then the previous ones. */
    public List<MasterKey> readingKeys() {
        List<MasterKey> keys = new ArrayList<>();
        if (key != null) {
            keys.add(key);
        }
        keys.addAll(previousKeys);
        return keys;
    }
}
