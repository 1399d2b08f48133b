package dev.tidemark.storage.keys;

import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * What the repository's key record says: the fingerprint of the master key the repository needs ("none" when it is not
 * encrypted) and, while a rotation runs, the fingerprints of the keys it rotates from (until it finishes, objects under
 * them remain and both read). The record is encoded with the key it names, so reading it proves the key; a reader without
 * that key still learns its fingerprint from the record's header ({@link #writtenUnder}).
 *
 * <p>Content: a first line saying what the object is, then {@code key FINGERPRINT} and, during a rotation,
 * {@code rotating-from FINGERPRINT...}. A record written before rotation existed holds the first line only: its key is the
 * one its header names.
 */
public record KeyRecord(String key, List<String> rotatingFrom) {
    static final String FIRST_LINE = "Tidemark repository: this object is encoded with the repository's master key";
    public static final String NONE = "none";

    public KeyRecord {
        rotatingFrom = List.copyOf(rotatingFrom);
    }

    public static KeyRecord steady(String key) {
        return new KeyRecord(key, List.of());
    }

    public boolean rotating() {
        return !rotatingFrom.isEmpty();
    }

    /** For logs and messages: "master key K" or "master key K, rotating from [O] (...)". */
    public String describe() {
        return (NONE.equals(key) ? "no master key (not encrypted)" : "master key " + key)
                + (rotating() ? ", a rotation from " + String.join(", ", rotatingFrom) + " in progress: objects under both read"
                + " until 'tidemark key rotate' finishes" : "");
    }

    /** Reads and decodes the record; empty when the repository has none (new, or written before the record existed). */
    public static Optional<KeyRecord> read(Repository repository) throws IOException {
        String object = repository.layout().keyCheck();
        if (repository.store().stat(object).isEmpty()) {
            return Optional.empty();
        }
        String text;
        try (InputStream in = repository.openDecoded(object)) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        String key = null;
        List<String> from = new ArrayList<>();
        for (String line : text.split("\n")) {
            String[] words = line.trim().split("\\s+");
            if (words[0].equals("key") && words.length == 2) {
                key = words[1];
            } else if (words[0].equals("rotating-from")) {
                from.addAll(Arrays.asList(words).subList(1, words.length));
            }
        }
        if (key == null) {
            key = writtenUnder(repository).orElse(NONE);
        }
        return Optional.of(new KeyRecord(key, from));
    }

    /** The fingerprint of the key the record is encoded with, read from its header without any key; empty without a record. */
    public static Optional<String> writtenUnder(Repository repository) throws IOException {
        String object = repository.layout().keyCheck();
        if (repository.store().stat(object).isEmpty()) {
            return Optional.empty();
        }
        try (InputStream in = repository.store().get(object, 0, Codec.MAX_HEADER)) {
            return Optional.of(Optional.ofNullable(Codec.keyFingerprint(in, object)).orElse(NONE));
        }
    }

    /** Writes the record, encoded with the repository's codec (whose key must be the one it names), replacing the old one. */
    public void write(Repository repository) throws IOException {
        String text = FIRST_LINE + "\nkey " + key + "\n" + (rotating() ? "rotating-from " + String.join(" ", rotatingFrom) + "\n" : "");
        repository.putEncoded(repository.layout().keyCheck(), new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
    }
}
