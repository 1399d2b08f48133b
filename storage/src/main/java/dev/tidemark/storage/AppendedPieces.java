package dev.tidemark.storage;

import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecException;
import dev.tidemark.storage.codec.ObjectTamperedException;
import dev.tidemark.storage.codec.WrongKeyException;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The pieces of a partial segment appended to one object ({@code {segment}.partial.appended}) where the store can grow an
 * object in place (a file repository): one record per piece, each {@code int32 length | an object encoded by the codec}
 * whose plaintext is {@code segment name (24 ASCII) | int64 start | int64 end | the bytes from start to end}, so the codec
 * authenticates the offsets and the segment with the bytes. A reader takes the records from the first on and stops at the
 * first that is not whole: a zero length (blocks a file system allocated but never wrote), a length past the end, or a
 * record the codec rejects (an append torn by a crash before it was durable, so never acknowledged).
 */
public final class AppendedPieces {
    /** What follows a partial segment's key to name the object its pieces are appended to. */
    public static final String SUFFIX = ".appended";
    private static final int LENGTH = 4;
    private static final int SEGMENT_NAME = 24;
    private static final int PLAIN_HEADER = SEGMENT_NAME + 16;
    /** The longest record a reader accepts: a whole segment of the largest size (1 GiB) and the codec's framing. */
    private static final int MAX_RECORD = (1 << 30) + (1 << 20);

    private AppendedPieces() {
    }

    /** One whole record: the segment's bytes from start to end. */
    public record Record(long start, long end, byte[] bytes) {
    }

    /** Whether key names an object of appended pieces. */
    public static boolean is(String key) {
        return key.endsWith(".partial" + SUFFIX);
    }

    /** Appends the piece of segment from start, bytes[off, off + len), as one record through codec; durable on return. */
    public static void append(Appender appender, Codec codec, String segment, long start, byte[] bytes, int off, int len)
            throws IOException {
        if (segment.length() != SEGMENT_NAME || len <= 0) {
            throw new IllegalArgumentException("a piece of a WAL segment needs its 24-character name and at least one byte");
        }
        ByteArrayOutputStream record = new ByteArrayOutputStream(LENGTH + PLAIN_HEADER + len + 256);
        record.write(new byte[LENGTH]);
        try (Codec.EncodingStream encoding = codec.encode(record, segment + ".partial" + SUFFIX, false)) {
            encoding.write(ByteBuffer.allocate(PLAIN_HEADER).put(segment.getBytes(StandardCharsets.US_ASCII))
                    .putLong(start).putLong(start + len).array());
            encoding.write(bytes, off, len);
        }
        ByteBuffer framed = ByteBuffer.wrap(record.toByteArray());
        framed.putInt(0, framed.capacity() - LENGTH);
        appender.append(framed);
    }

    /** The whole records of the object key (none when it is missing), in the order appended, up to the first that is not. */
    public static List<Record> read(Repository repository, String key) throws IOException {
        String segment = segmentOf(key);
        List<Record> records = new ArrayList<>();
        try (DataInputStream in = open(repository.store(), key)) {
            byte[] encoded;
            while ((encoded = next(in)) != null) {
                Record r = decode(repository.codec(), encoded, key, segment);
                if (r == null) {
                    // a torn last append leaves nothing whole after it; a whole record after a bad one is damage
                    byte[] following = next(in);
                    if (following != null && decode(repository.codec(), following, key, segment) != null) {
                        throw new ObjectTamperedException(key + ": the piece after " + describe(records) + " fails its check"
                                + " while a later one is whole: the object is damaged (WAL after it is not read)");
                    }
                    break;
                }
                records.add(r);
            }
        } catch (ObjectNotFoundException e) {
            return List.of();
        }
        return records;
    }

    /**
     * The master keys (fingerprints) the records of the object key are encrypted with, for a key rotation; empty when it is
     * missing or not encrypted. A torn last record counts with the key its header names.
     */
    public static Set<String> keys(ObjectStore store, String key) throws IOException {
        Set<String> keys = new LinkedHashSet<>();
        try (DataInputStream in = open(store, key)) {
            byte[] encoded;
            while ((encoded = next(in)) != null) {
                String fingerprint;
                try {
                    fingerprint = Codec.keyFingerprint(new ByteArrayInputStream(encoded), key);
                } catch (CodecException e) {
                    break;
                }
                if (fingerprint != null) {
                    keys.add(fingerprint);
                }
            }
        } catch (ObjectNotFoundException e) {
            return Set.of();
        }
        return keys;
    }

    private static DataInputStream open(ObjectStore store, String key) throws IOException {
        return new DataInputStream(new BufferedInputStream(store.get(key), 64 << 10));
    }

    /** The next record's encoded bytes, or null at the end of what is whole. */
    private static byte[] next(DataInputStream in) throws IOException {
        int length;
        try {
            length = in.readInt();
        } catch (EOFException e) {
            return null;
        }
        if (length <= 0 || length > MAX_RECORD) {
            return null;
        }
        byte[] encoded = in.readNBytes(length);
        return encoded.length == length ? encoded : null;
    }

    /** The record encoded, or null when the codec rejects it or it is not a piece of segment. */
    private static Record decode(Codec codec, byte[] encoded, String key, String segment) throws IOException {
        byte[] plain;
        try (InputStream in = codec.decode(new ByteArrayInputStream(encoded), key)) {
            plain = in.readAllBytes();
        } catch (WrongKeyException e) {
            throw e; // whole, under a key this engine lacks: not a torn append
        } catch (CodecException e) {
            return null;
        }
        if (plain.length <= PLAIN_HEADER) {
            return null;
        }
        ByteBuffer header = ByteBuffer.wrap(plain, 0, PLAIN_HEADER);
        String name = new String(plain, 0, SEGMENT_NAME, StandardCharsets.US_ASCII);
        long start = header.getLong(SEGMENT_NAME);
        long end = header.getLong(SEGMENT_NAME + 8);
        if (!name.equals(segment) || start < 0 || end - start != plain.length - PLAIN_HEADER) {
            return null;
        }
        return new Record(start, end, Arrays.copyOfRange(plain, PLAIN_HEADER, plain.length));
    }

    private static String describe(List<Record> records) {
        return records.isEmpty() ? "the start" : "offset " + Long.toHexString(records.get(records.size() - 1).end()).toUpperCase();
    }

    private static String segmentOf(String key) {
        String name = key.substring(key.lastIndexOf('/') + 1);
        if (!is(key) || name.length() < SEGMENT_NAME) {
            throw new IllegalArgumentException("'" + key + "' does not name the appended pieces of a partial segment");
        }
        return name.substring(0, SEGMENT_NAME);
    }
}
