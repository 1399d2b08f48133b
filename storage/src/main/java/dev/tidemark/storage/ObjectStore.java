package dev.tidemark.storage;

import java.io.IOException;
import java.io.InputStream;
import java.util.Collection;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where bytes live: a flat namespace of keys ("a/b/c") holding immutable objects.
 * Every implementation passes the same contract suite (ObjectStoreContract in the tests).
 */
public interface ObjectStore extends AutoCloseable {

    /** Opens a streaming write of unknown length; nothing is visible under key until {@link ObjectWriter#commit()} returns. */
    ObjectWriter create(String key) throws IOException;

    /** Stores everything read from content under key, replacing any object there, visible whole or not at all. */
    default ObjectInfo put(String key, InputStream content) throws IOException {
        try (ObjectWriter writer = create(key)) {
            content.transferTo(writer);
            return writer.commit();
        }
    }

    /** Opens the whole object; throws {@link ObjectNotFoundException} when no object has this key. */
    InputStream get(String key) throws IOException;

    /** Opens length bytes from offset (fewer when the object ends first); throws {@link ObjectNotFoundException} when missing. */
    InputStream get(String key, long offset, long length) throws IOException;

    /** Returns the object's size and time, or empty when no object has this key. */
    Optional<ObjectInfo> stat(String key) throws IOException;

    /** Lists, lazily and in ascending key order, every object whose key starts with prefix; close the stream when done. */
    Stream<ObjectInfo> list(String prefix) throws IOException;

    /**
     * Creates an empty object under key that grows in place, replacing any object there, and returns its appender; empty
     * when the store cannot grow an object (S3: objects are immutable, callers store each part as an object of its own).
     * The object reads like any other: its bytes so far, possibly with a torn tail (see {@link Appender}).
     */
    default Optional<Appender> appender(String key) throws IOException {
        return Optional.empty();
    }

    /** Removes the object; removing a missing object is not an error. */
    void delete(String key) throws IOException;

    /** Removes every listed object (in batches where the store supports it); missing ones are not an error. */
    void deleteAll(Collection<String> keys) throws IOException;

    /**
     * Removes what unfinished writes under a prefix left behind (a process killed while it wrote); for prefixes no
     * writer uses any more. Stores whose unfinished writes leave nothing visible do nothing.
     */
    default void deleteUnfinished(String prefix) throws IOException {
    }

    /** A short description for logs and errors, never containing a secret (e.g. "s3://bucket/prefix"). */
    String describe();

    @Override
    default void close() throws IOException {
    }
}
