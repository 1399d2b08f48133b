package dev.tidemark.storage;

/** What the repository stored under key: the plaintext's SHA-256 and size, and the size after compression and encryption. */
public record StoredObject(String key, String sha256Hex, long plainBytes, long storedBytes) {
}
