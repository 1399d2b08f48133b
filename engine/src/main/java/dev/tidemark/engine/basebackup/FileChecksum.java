package dev.tidemark.engine.basebackup;

import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.Xxh64;

import java.security.MessageDigest;
import java.util.Locale;

/**
 * The checksum a base backup records for each file (or piece): SHA-256, or XXH64 where the repository is encrypted.
 * There every stored chunk is authenticated by AES-GCM under a key only the engine holds, so the per-file checksum only
 * has to tell apart whole objects the engine wrote and catch a fault between reading a file and storing it; a 64-bit
 * hash does that at a sixth of SHA-256's cost (docs/storage.md, "File checksums"). In an unencrypted repository the
 * chunks carry CRC32C, which anyone can recompute, and SHA-256 is what an altered object cannot match.
 */
public enum FileChecksum {
    SHA256, XXH64;

    /** The JVM system property that picks SHA-256 for every backup ("sha256"); "auto" (the default) chooses by encryption. */
    public static final String PROPERTY = "tidemark.backup.file-checksum";

    /** XXH64 for an encrypted repository, SHA-256 otherwise; setting "sha256" keeps SHA-256 everywhere. */
    public static FileChecksum choose(Repository repository, String setting) {
        String s = setting == null ? "auto" : setting.trim().toLowerCase(Locale.ROOT);
        return switch (s) {
            case "auto" -> repository.codec().settings().key() != null ? XXH64 : SHA256;
            case "sha256", "sha-256" -> SHA256;
            default -> throw new IllegalArgumentException(PROPERTY + " is '" + setting + "': use 'auto' (XXH64 where the repository is"
                    + " encrypted, SHA-256 elsewhere) or 'sha256'");
        };
    }

    /** As configured on this JVM ({@link #PROPERTY}). */
    public static FileChecksum configured(Repository repository) {
        return choose(repository, System.getProperty(PROPERTY, "auto"));
    }

    public MessageDigest newDigest() {
        return this == XXH64 ? new Xxh64() : Codec.sha256();
    }
}
