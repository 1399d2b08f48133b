package dev.tidemark.storage;

import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.layout.RepositoryLayout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.stream.Stream;

/** A backup repository: an object store, the layout of its keys, and the codec every object passes through. */
public final class Repository implements AutoCloseable {
    private final ObjectStore store;
    private final RepositoryLayout layout;
    private final Codec codec;

    public Repository(ObjectStore store, RepositoryLayout layout, Codec codec) {
        this.store = store;
        this.layout = layout;
        this.codec = codec;
    }

    public ObjectStore store() {
        return store;
    }

    public RepositoryLayout layout() {
        return layout;
    }

    public Codec codec() {
        return codec;
    }

    /** Encodes everything read from content and stores it under key, visible whole or not at all. */
    public StoredObject putEncoded(String key, InputStream content) throws IOException {
        try (EncodingWriter writer = openEncoded(key)) {
            content.transferTo(writer);
            return writer.commit();
        }
    }

    /** Opens a streaming encoded write; nothing is visible until commit, and close without commit leaves no trace. */
    public EncodingWriter openEncoded(String key) throws IOException {
        return openEncoded(key, true);
    }

    /** As {@link #openEncoded(String)}; without hashPlaintext the committed object's sha256Hex is null (see Codec#encode). */
    public EncodingWriter openEncoded(String key, boolean hashPlaintext) throws IOException {
        ObjectWriter target = store.create(key);
        try {
            return new EncodingWriter(key, target, codec.encode(target, key, hashPlaintext));
        } catch (IOException | RuntimeException e) {
            target.abort();
            throw e;
        }
    }

    /** Opens and decodes an object; fails with a CodecException when it is damaged or encrypted under another key. */
    public InputStream openDecoded(String key) throws IOException {
        InputStream raw = store.get(key);
        try {
            return codec.decode(raw, key);
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
    }

    /** As {@link #openDecoded(String)}, and at the end of the stream checks the content against the recorded SHA-256. */
    public InputStream openDecoded(String key, String expectedSha256Hex) throws IOException {
        InputStream raw = store.get(key);
        try {
            return codec.decode(raw, key, expectedSha256Hex);
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
    }

    /** Deletes every object whose key starts with prefix (an unfinished backup, an expired dump); returns how many. */
    public int deleteUnder(String prefix) throws IOException {
        return deleteUnder(prefix, null);
    }

    /**
     * Deletes every object whose key starts with prefix but not with kept (null: none kept), and unfinished uploads
     * under prefix (a kept object's writer whose upload is cut off writes it again); returns how many objects.
     */
    public int deleteUnder(String prefix, String kept) throws IOException {
        List<String> keys;
        try (Stream<ObjectInfo> objects = store.list(prefix)) {
            keys = objects.map(ObjectInfo::key).filter(k -> kept == null || !k.startsWith(kept)).toList();
        }
        store.deleteAll(keys);
        store.deleteUnfinished(prefix); // the prefix is no writer's any more: what a killed one left goes too
        return keys.size();
    }

    @Override
    public void close() throws IOException {
        store.close();
    }

    /** An encoded write in progress. */
    public static final class EncodingWriter extends OutputStream {
        private final String key;
        private final ObjectWriter target;
        private final Codec.EncodingStream encoding;
        private boolean done;

        EncodingWriter(String key, ObjectWriter target, Codec.EncodingStream encoding) {
            this.key = key;
            this.target = target;
            this.encoding = encoding;
        }

        @Override
        public void write(int b) throws IOException {
            encoding.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            encoding.write(b, off, len);
        }

        /** Finishes the encoding and makes the object durable and visible. */
        public StoredObject commit() throws IOException {
            encoding.close();
            target.commit();
            done = true;
            return new StoredObject(key, encoding.sha256Hex(), encoding.plainBytes(), encoding.encodedBytes());
        }

        @Override
        public void close() {
            if (!done) {
                done = true;
                target.abort();
            }
        }
    }
}
