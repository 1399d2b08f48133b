package dev.tidemark.storage.testing;

import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.ObjectNotFoundException;
import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The contract every {@link ObjectStore} keeps; each implementation's test extends this class. */
public abstract class ObjectStoreContract {
    protected ObjectStore store;

    /** A fresh, empty store. */
    protected abstract ObjectStore newStore() throws Exception;

    @BeforeEach
    void open() throws Exception {
        store = newStore();
    }

    @AfterEach
    void closeStore() throws Exception {
        store.close();
    }

    protected static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private byte[] read(String key) throws IOException {
        try (InputStream in = store.get(key)) {
            return in.readAllBytes();
        }
    }

    @Test
    void putThenGetReturnsTheSameBytes() throws IOException {
        byte[] content = random(300_000, 1);
        ObjectInfo info = store.put("a/b/object", new ByteArrayInputStream(content));
        assertThat(info.size()).isEqualTo(content.length);
        assertThat(read("a/b/object")).isEqualTo(content);
        assertThat(store.stat("a/b/object")).get().extracting(ObjectInfo::size).isEqualTo((long) content.length);
    }

    @Test
    void anEmptyObjectIsAnObject() throws IOException {
        store.put("empty", InputStream.nullInputStream());
        assertThat(read("empty")).isEmpty();
        assertThat(store.stat("empty")).get().extracting(ObjectInfo::size).isEqualTo(0L);
    }

    @Test
    void aStreamingWriteIsInvisibleUntilCommitted() throws IOException {
        try (ObjectWriter writer = store.create("pending/x")) {
            writer.write(random(100_000, 2));
            assertThat(store.stat("pending/x")).isEmpty();
            try (Stream<ObjectInfo> listed = store.list("pending/")) {
                assertThat(listed).isEmpty();
            }
            writer.commit();
        }
        assertThat(store.stat("pending/x")).isPresent();
    }

    @Test
    void anAbortedWriteLeavesNoTrace() throws IOException {
        store.put("keep", new ByteArrayInputStream("old".getBytes(StandardCharsets.UTF_8)));
        try (ObjectWriter writer = store.create("keep")) {
            writer.write(random(50_000, 3));
        }
        assertThat(read("keep")).isEqualTo("old".getBytes(StandardCharsets.UTF_8));
        try (ObjectWriter writer = store.create("never")) {
            writer.write(1);
            writer.abort();
        }
        assertThat(store.stat("never")).isEmpty();
        try (Stream<ObjectInfo> all = store.list("")) {
            assertThat(all.map(ObjectInfo::key)).containsExactly("keep");
        }
    }

    @Test
    void putReplacesAnExistingObject() throws IOException {
        store.put("k", new ByteArrayInputStream(random(10, 4)));
        byte[] second = random(20, 5);
        store.put("k", new ByteArrayInputStream(second));
        assertThat(read("k")).isEqualTo(second);
    }

    @Test
    void rangedGetReturnsTheRangeAndStopsAtTheEnd() throws IOException {
        byte[] content = random(100_000, 6);
        store.put("r", new ByteArrayInputStream(content));
        try (InputStream in = store.get("r", 1000, 500)) {
            assertThat(in.readAllBytes()).isEqualTo(java.util.Arrays.copyOfRange(content, 1000, 1500));
        }
        try (InputStream in = store.get("r", 99_990, 500)) {
            assertThat(in.readAllBytes()).isEqualTo(java.util.Arrays.copyOfRange(content, 99_990, 100_000));
        }
    }

    @Test
    void missingObjectsAreReportedAsSuch() throws IOException {
        assertThatThrownBy(() -> store.get("nope")).isInstanceOf(ObjectNotFoundException.class).hasMessageContaining("nope");
        assertThatThrownBy(() -> store.get("nope", 0, 10)).isInstanceOf(ObjectNotFoundException.class);
        assertThat(store.stat("nope")).isEmpty();
        store.delete("nope");
    }

    @Test
    void listReturnsEveryKeyUnderThePrefixInAscendingOrder() throws IOException {
        List<String> keys = new ArrayList<>(List.of("db/a/x", "db/a-b/y", "db/a/sub/z", "db/ab", "db/b/1", "other/1", "db/a.c"));
        for (String key : keys) {
            store.put(key, new ByteArrayInputStream(key.getBytes(StandardCharsets.UTF_8)));
        }
        try (Stream<ObjectInfo> listed = store.list("db/a")) {
            assertThat(listed.map(ObjectInfo::key)).containsExactly("db/a-b/y", "db/a.c", "db/a/sub/z", "db/a/x", "db/ab");
        }
        try (Stream<ObjectInfo> listed = store.list("db/a/")) {
            assertThat(listed.map(ObjectInfo::key)).containsExactly("db/a/sub/z", "db/a/x");
        }
        try (Stream<ObjectInfo> listed = store.list("none/")) {
            assertThat(listed).isEmpty();
        }
    }

    @Test
    void deleteAndBatchDeleteRemoveObjects() throws IOException {
        List<String> keys = IntStream.range(0, 1200).mapToObj("d/%04d"::formatted).toList();
        for (String key : keys.subList(0, 30)) {
            store.put(key, new ByteArrayInputStream(new byte[]{1}));
        }
        store.delete("d/0000");
        assertThat(store.stat("d/0000")).isEmpty();
        store.deleteAll(keys);
        try (Stream<ObjectInfo> listed = store.list("d/")) {
            assertThat(listed).isEmpty();
        }
    }

    /** Writes size bytes from a seeded generator, reads them back, and compares SHA-256: no large arrays held. */
    private void roundTrip(String key, long size) throws Exception {
        java.security.MessageDigest written = java.security.MessageDigest.getInstance("SHA-256");
        Random random = new Random(size);
        byte[] block = new byte[1 << 20];
        try (ObjectWriter writer = store.create(key)) {
            for (long left = size; left > 0; ) {
                int n = (int) Math.min(block.length, left);
                random.nextBytes(block);
                writer.write(block, 0, n);
                written.update(block, 0, n);
                left -= n;
            }
            assertThat(writer.commit().size()).isEqualTo(size);
        }
        java.security.MessageDigest read = java.security.MessageDigest.getInstance("SHA-256");
        long total = 0;
        try (InputStream in = store.get(key)) {
            int n;
            while ((n = in.read(block)) > 0) {
                read.update(block, 0, n);
                total += n;
            }
        }
        assertThat(total).isEqualTo(size);
        assertThat(read.digest()).as("SHA-256 of %d bytes", size).isEqualTo(written.digest());
        assertThat(store.stat(key)).get().extracting(ObjectInfo::size).isEqualTo(size);
    }

    @Test
    void objectsOfEverySizeRoundTripWithEqualChecksums() throws Exception {
        for (long size : new long[]{0, 1, 5L << 20, 200L << 20}) {
            roundTrip("sizes/" + size, size);
            store.delete("sizes/" + size);
        }
    }

    @Test
    void listsTenThousandKeysUnderAPrefix() throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            List<java.util.concurrent.Future<?>> puts = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                String key = "ten-thousand/%05d".formatted(i);
                puts.add(pool.submit(() -> store.put(key, new ByteArrayInputStream(new byte[]{1}))));
            }
            store.put("ten-thousand-other", new ByteArrayInputStream(new byte[]{2}));
            for (java.util.concurrent.Future<?> f : puts) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        try (Stream<ObjectInfo> listed = store.list("ten-thousand/")) {
            List<String> keys = listed.map(ObjectInfo::key).toList();
            assertThat(keys).hasSize(10_000).isSorted();
        }
    }

    @Test
    void aLargeStreamingWriteRoundTrips() throws IOException {
        byte[] content = random(20 * 1024 * 1024 + 123, 7);
        try (ObjectWriter writer = store.create("big/object")) {
            for (int off = 0; off < content.length; off += 70_001) {
                writer.write(content, off, Math.min(70_001, content.length - off));
            }
            assertThat(writer.commit().size()).isEqualTo(content.length);
        }
        assertThat(read("big/object")).isEqualTo(content);
    }
}
