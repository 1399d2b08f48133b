package dev.tidemark.engine.node;

import dev.tidemark.storage.Appender;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * An object store that refuses every write (create, append, delete) while its guard says no: what a database's WAL stream
 * writes through, so that a node that lost the database's lease (a freeze, a cut from the catalog) uploads nothing
 * more, even before its stream is stopped (issue 20). The check is made when a write begins, at each write and just
 * before it is committed; a node frozen in the instant between that last check and the request leaving it can still send that
 * one request on waking (a store without conditional writes admits no tighter fence). Such a write is found after the
 * fact (the guard says no once it returns) and named in the log, so an operator (and a test) can tell it from a fence
 * that failed. Reads pass through.
 */
public final class FencedStore implements ObjectStore {
    private static final Logger log = LoggerFactory.getLogger(FencedStore.class);
    private final ObjectStore store;
    private final BooleanSupplier mayWrite;
    private final String what;
    private final Supplier<String> why;

    /** Fenced by a database's lease: what names the database. */
    public FencedStore(ObjectStore store, BooleanSupplier mayWrite, String what) {
        this(store, mayWrite, what, () -> "this node no longer holds the lease of " + what);
    }

    /** Fenced by another guard: why says, when it says no, why nothing is written. */
    public FencedStore(ObjectStore store, BooleanSupplier mayWrite, String what, Supplier<String> why) {
        this.store = store;
        this.mayWrite = mayWrite;
        this.what = what;
        this.why = why;
    }

    /** Throws unless the guard lets the write through; returns when it did (System.nanoTime). */
    private long check(String key) throws IOException {
        if (!mayWrite.getAsBoolean()) {
            throw new IOException("fenced: " + why.get() + "; nothing is written (" + key + ")");
        }
        return System.nanoTime();
    }

    /**
     * After a write the guard let through at passedAt: if the guard says no now, the fence closed while the write was on its
     * way (a freeze in between), and the write is named in the log.
     */
    private void checkAfter(String key, long passedAt) {
        if (!mayWrite.getAsBoolean()) {
            log.warn("{}: a write let through before the fence closed ended after it closed ({}; the node was frozen or cut off in"
                    + " between): {} (let through {} ms before it ended)", what, why.get(), key, (System.nanoTime() - passedAt) / 1_000_000);
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
                check(key); // a store may send parts of a large object as they fill (published only at the commit)
                writer.write(b, off, len);
            }

            @Override
            public ObjectInfo commit() throws IOException {
                long passed = check(key); // a node frozen since the write began has lost the lease by now: nothing is published
                ObjectInfo info = writer.commit();
                checkAfter(key, passed);
                return info;
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
                long passed = check(key);
                a.append(bytes);
                checkAfter(key, passed);
            }

            @Override
            public void close() throws IOException {
                a.close();
            }
        });
    }

    @Override
    public ObjectInfo put(String key, InputStream content) throws IOException {
        long passed = check(key);
        ObjectInfo info = store.put(key, content);
        checkAfter(key, passed);
        return info;
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
        long passed = check(key);
        store.delete(key);
        checkAfter(key, passed);
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
