package dev.tidemark.storage;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Appends to one object of a store that can grow objects in place ({@link ObjectStore#appender}): each append is durable
 * when it returns. Readers may see the bytes of an append before it returned, or part of them after a crash during it
 * (a torn tail): what is appended must be framed so that a reader can tell a record that is whole.
 */
public interface Appender extends AutoCloseable {

    /** Writes bytes after everything appended before and returns once they are durable. */
    void append(ByteBuffer bytes) throws IOException;

    /** Releases the object; what was appended stays. */
    @Override
    void close() throws IOException;
}
