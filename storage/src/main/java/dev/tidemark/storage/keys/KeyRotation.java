package dev.tidemark.storage.keys;

import dev.tidemark.storage.AppendedPieces;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.ObjectNotFoundException;
import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecException;
import dev.tidemark.storage.codec.MasterKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Master key rotation: every object of the repository not yet under the codec's key gets its data key wrapped anew under
 * it (version 1 objects are encrypted again; see {@link Codec#rewrap}), each replaced whole or not at all. The repository's
 * key record names the new key and the keys rotated from until a full pass finds no object under another key; then it
 * names the new key alone and the old one is no longer needed.
 *
 * <p>Two passes in key order. The first leaves WAL {@code .partial} objects to the streamer, which replaces them every
 * few seconds while WAL arrives (under the new key, since an engine in a rotating repository must write with it) and
 * is the one writer that replaces objects: rewriting them beside it is the one place an older copy could win. The second
 * pass takes every object still under another key, partial ones too (an idle stream or a stopped engine leaves them).
 * An object is replaced only when the store still holds the very object that was read (its header, new with every write,
 * unchanged): one deleted meanwhile (retention) stays deleted, one replaced meanwhile stays replaced. Restarting after an interruption skips
 * what is done, since an object's header names its key.
 */
public final class KeyRotation {
    private static final Logger LOG = LoggerFactory.getLogger(KeyRotation.class);
    private static final String PARTIAL = ".partial";

    /** Told after each object of a pass; may throw to stop the rotation (it resumes where it stopped when run again). */
    public interface Listener {
        void progress(int pass, long done, long total);
    }

    /**
     * The outcome. complete: every object is under the new key and the key record says so.
     *
     * @param objects       objects looked at in the first pass
     * @param alreadyUnder  of them, under the new key before this run (a resumed rotation, or written by the engine since)
     * @param rewrapped     data keys wrapped anew, the object's encrypted bytes copied
     * @param reencrypted   version 1 objects encrypted again
     * @param leftAlone     objects changed or deleted by another writer while they were rewritten: left as that writer left them
     * @param remaining     objects still under another key after the second pass (with the reason), or damaged
     */
    public record Summary(String key, long objects, long alreadyUnder, long rewrapped, long reencrypted, long bytes, long leftAlone,
                          List<String> remaining, Duration took) {
        public boolean complete() {
            return remaining.isEmpty();
        }
    }

    private final Repository repository;
    private final ObjectStore store;
    private final Codec codec;
    private final String key;
    private final Listener listener;
    private long alreadyUnder;
    private long rewrapped;
    private long reencrypted;
    private long bytes;
    private long leftAlone;

    private KeyRotation(Repository repository, Listener listener) {
        MasterKey current = repository.codec().settings().key();
        if (current == null) {
            throw new IllegalStateException("the repository is not encrypted (encryption: none): there is no master key to rotate");
        }
        this.repository = repository;
        this.store = repository.store();
        this.codec = repository.codec();
        this.key = current.fingerprint();
        this.listener = listener;
    }

    /**
     * Rotates the repository to its codec's key, which its key record must already name (the record says from which keys;
     * the codec must hold them as previous keys).
     */
    public static Summary run(Repository repository, Listener listener) throws IOException {
        return new KeyRotation(repository, listener).run();
    }

    private Summary run() throws IOException {
        try {
            return rotate();
        } catch (IOException | RuntimeException e) {
            LOG.warn("key rotation of {} stopped ({} re-wrapped, {} re-encrypted so far): {}; run it again to resume", store.describe(),
                    rewrapped, reencrypted, e.getMessage());
            throw e;
        }
    }

    private Summary rotate() throws IOException {
        long started = System.nanoTime();
        KeyRecord record = KeyRecord.read(repository).orElseThrow(() -> new IllegalStateException(
                "repository " + store.describe() + " has no key record: open it with the new key first"));
        if (!record.key().equals(key)) {
            throw new IllegalStateException("repository " + store.describe() + " records " + record.describe() + ", not master key " + key
                    + ": open it with the new key first");
        }
        long total;
        try (Stream<ObjectInfo> all = objects()) {
            total = all.count();
        }
        LOG.info("key rotation of {} to master key {}: {} objects", store.describe(), key, total);
        long done = 0;
        List<String> unreadable = new ArrayList<>();
        try (Stream<ObjectInfo> all = objects()) {
            for (ObjectInfo object : (Iterable<ObjectInfo>) all::iterator) {
                step(object, false, unreadable);
                listener.progress(1, ++done, total);
            }
        }
        long firstPassUnder = alreadyUnder;
        // the second pass: what the first left to the streamer, and what another writer wrote under another key since
        long secondTotal;
        try (Stream<ObjectInfo> all = objects()) {
            secondTotal = all.count();
        }
        Set<String> remaining = new LinkedHashSet<>();
        unreadable.clear();
        long second = 0;
        try (Stream<ObjectInfo> all = objects()) {
            for (ObjectInfo object : (Iterable<ObjectInfo>) all::iterator) {
                int damaged = unreadable.size();
                if (!step(object, true, unreadable) && unreadable.size() == damaged) {
                    String under = under(object.key());
                    if (under != null && !under.equals(key)) {
                        remaining.add(object.key() + ": replaced by another writer under key " + under + " while it was rewritten"
                                + " (an engine still writing with the old key? it must write with " + key + ")");
                    }
                }
                listener.progress(2, ++second, secondTotal);
            }
        }
        remaining.addAll(unreadable);
        if (remaining.isEmpty()) {
            KeyRecord.steady(key).write(repository);
            LOG.info("key rotation of {} done: every object is under master key {}; the keys rotated from ({}) are no longer needed",
                    store.describe(), key, String.join(", ", record.rotatingFrom()));
        } else {
            LOG.warn("key rotation of {} not finished: {} objects still under another key or unreadable; both keys still needed",
                    store.describe(), remaining.size());
        }
        return new Summary(key, total, firstPassUnder, rewrapped, reencrypted, bytes, leftAlone, List.copyOf(remaining),
                Duration.ofNanos(System.nanoTime() - started));
    }

    private Stream<ObjectInfo> objects() throws IOException {
        String record = repository.layout().keyCheck();
        return store.list(repository.layout().root()).filter(o -> !o.key().equals(record) && !o.key().contains(".tidemark-tmp-"));
    }

    /** The key an object is under as its header says; null when it is gone or cannot be read. */
    private String under(String name) throws IOException {
        try (InputStream head = store.get(name, 0, Codec.MAX_HEADER)) {
            return Codec.keyFingerprint(head, name);
        } catch (ObjectNotFoundException | CodecException e) {
            return null;
        }
    }

    /** An object's first bytes: its header, which differs for every write of an encrypted object (a random wrap nonce). */
    private byte[] head(String name) throws IOException {
        try (InputStream in = store.get(name, 0, Codec.MAX_HEADER)) {
            return in.readAllBytes();
        }
    }

    /**
     * Rewrites one object when it is under another key; returns whether it is under the key (or gone) afterwards. Partial
     * WAL segments wait for the second pass. A damaged or foreign object is noted in unreadable and left as it is.
     */
    private boolean step(ObjectInfo object, boolean secondPass, List<String> unreadable) throws IOException {
        String name = object.key();
        if (AppendedPieces.is(name)) {
            return appended(name, secondPass, unreadable);
        }
        byte[] head;
        String under;
        try {
            head = head(name);
            under = Codec.keyFingerprint(new ByteArrayInputStream(head), name);
        } catch (ObjectNotFoundException e) {
            return true; // deleted since the listing: nothing to rotate
        } catch (CodecException e) {
            unreadable.add(name + ": " + e.getMessage());
            return false;
        }
        if (key.equals(under)) {
            if (!secondPass) {
                alreadyUnder++;
            }
            return true;
        }
        if (!secondPass && name.endsWith(PARTIAL)) {
            return false;
        }
        try (InputStream in = store.get(name); ObjectWriter out = store.create(name)) {
            Codec.Rewrap how = codec.rewrap(in, out, name);
            // replace only the object that was read: one another writer deleted or replaced meanwhile stays as it left it.
            // The header tells (a new write has a new random wrap nonce), where sizes and times could match by chance
            // and S3 gives listings and HEAD requests times of different precision.
            Optional<byte[]> now = current(name);
            if (now.isEmpty() || !Arrays.equals(now.get(), head)) {
                leftAlone++;
                LOG.info("{} was {} while it was rewritten: left as the other writer left it", name, now.isEmpty() ? "deleted" : "replaced");
                return false;
            }
            ObjectInfo written = out.commit();
            bytes += written.size();
            if (how == Codec.Rewrap.REWRAPPED) {
                rewrapped++;
            } else {
                reencrypted++;
            }
            return true;
        } catch (ObjectNotFoundException e) {
            leftAlone++;
            return true; // deleted between the header and the whole read: it stays deleted
        } catch (CodecException e) {
            unreadable.add(name + ": " + e.getMessage());
            return false;
        }
    }

    /**
     * The object a synchronous stream appends a segment's pieces to cannot be replaced beside its writer: it counts as under
     * the key when every record is, and otherwise stays until the stream removes it (when the segment is complete).
     */
    private boolean appended(String name, boolean secondPass, List<String> unreadable) throws IOException {
        Set<String> keys = AppendedPieces.keys(store, name);
        if (keys.stream().allMatch(key::equals)) {
            if (!secondPass) {
                alreadyUnder++;
            }
            return true;
        }
        if (secondPass) {
            unreadable.add(name + ": pieces of a WAL segment that a synchronous stream appended under key " + String.join(", ", keys)
                    + "; the stream removes them when the segment is complete (pg_switch_wal() on the server completes it now):"
                    + " run the rotation again then");
        }
        return false;
    }

    private Optional<byte[]> current(String name) throws IOException {
        try {
            return Optional.of(head(name));
        } catch (ObjectNotFoundException e) {
            return Optional.empty();
        }
    }
}
