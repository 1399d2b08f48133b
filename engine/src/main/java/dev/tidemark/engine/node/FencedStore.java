package dev.tidemark.engine.node;

import dev.tidemark.storage.Appender;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * An object store that refuses every write (create, append, delete) while its guard says no: what a database's WAL stream
 * writes through, so that a node that lost the database's lease (a freeze, a cut from the catalog) uploads nothing
 * more, even before its stream is stopped (issue 20). The check is made when a write begins, at each write and just
 * before it is committed; a node frozen in the instant between that last check and the request leaving it can still send that
 * one request on waking (a store without conditional writes admits no tighter fence). Reads pass through.
 */
public final class FencedStore implements ObjectStore {
    private final ObjectStore store;
    private final BooleanSupplier mayWrite;
    private final String what;

    public FencedStore(ObjectStore store, BooleanSupplier mayWrite, String what) {
        this.store = store;
        this.mayWrite = mayWrite;
        this.what = what;
    }

    private void check(String key) throws IOException {
        if (!mayWrite.getAsBoolean()) {
            throw new IOException("fenced: this node no longer holds the lease of " + what + "; nothing is written (" + key + ")");
        }
    }

    /** Checked when the write begins, at each write and at its commit, which is when a store sends or publishes the object. */
    @Override
    public ObjectWriter create(String key) throws IOException {
        check(key);
        ObjectWriter writer = store.create(key);
        return new ObjectWriter() {
            @Override
            public void write(int b) throws IOException {
                check(key);
                writer.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                check(key); // a store may send parts of a large object as they fill
                writer.write(b, off, len);
            }

            @Override
            public ObjectInfo commit() throws IOException {
                check(key); // a node frozen since the write began has lost the lease by now: nothing is published
                return writer.commit();
            }

            @Override
            public void abort() {
                writer.abort();
            }

            @Override
            public void close() throws IOException {
                writer.close();
            }
        };
    }

    /** Checked when the object is created and before each append. */
    @Override
    public Optional<Appender> appender(String key) throws IOException {
        check(key);
        Optional<Appender> appender = store.appender(key);
        return appender.map(a -> new Appender() {
            @Override
            public void append(ByteBuffer bytes) throws IOException {
                check(key);
                a.append(bytes);
            }

            @Override
            public void close() throws IOException {
                a.close();
            }
        });
    }

    @Override
    public ObjectInfo put(String key, InputStream content) throws IOException {
        check(key);
        return store.put(key, content);
    }

    @Override
    public InputStream get(String key) throws IOException {
        return store.get(key);
    }

    @Override
    public InputStream get(String key, long offset, long length) throws IOException {
        return store.get(key, offset, length);
    }

    @Override
    public Optional<ObjectInfo> stat(String key) throws IOException {
        return store.stat(key);
    }

    @Override
    public Stream<ObjectInfo> list(String prefix) throws IOException {
        return store.list(prefix);
    }

    @Override
    public void delete(String key) throws IOException {
        check(key);
        store.delete(key);
    }

    @Override
    public void deleteAll(Collection<String> keys) throws IOException {
        check(String.valueOf(keys.size()) + " keys");
        store.deleteAll(keys);
    }

    @Override
    public void deleteUnfinished(String prefix) throws IOException {
        check(prefix);
        store.deleteUnfinished(prefix);
    }

    @Override
    public String describe() {
        return store.describe();
    }

    @Override
    public void close() {
        // the shared store is closed by its owner, never by one stream
    }
}
