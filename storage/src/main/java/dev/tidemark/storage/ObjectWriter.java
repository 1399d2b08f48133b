package dev.tidemark.storage;

import java.io.IOException;
import java.io.OutputStream;

/**
 * A streaming write in progress. Bytes written are invisible to readers until {@link #commit()} returns;
 * {@link #close()} without a commit aborts and removes every trace (temp file, multipart upload).
 */
public abstract class ObjectWriter extends OutputStream {

    /** Makes the object durable and visible under its key, replacing any previous one; returns what was stored. */
    public abstract ObjectInfo commit() throws IOException;

    /** Discards the write; idempotent, and a no-op after a successful commit. */
    public abstract void abort();

    @Override
    public void close() throws IOException {
        abort();
    }
}
