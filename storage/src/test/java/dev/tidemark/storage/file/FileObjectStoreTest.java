package dev.tidemark.storage.file;

import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;
import dev.tidemark.storage.testing.ObjectStoreContract;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FileObjectStoreTest extends ObjectStoreContract {
    @TempDir
    Path root;

    @Override
    protected ObjectStore newStore() {
        return new FileObjectStore(root);
    }

    @Test
    void anAppendableObjectGrowsInPlace() throws IOException {
        store.put("w/a", new java.io.ByteArrayInputStream(new byte[]{9, 9, 9}));
        try (dev.tidemark.storage.Appender appender = store.appender("w/a").orElseThrow()) {
            assertThat(store.get("w/a").readAllBytes()).as("replaced: empty").isEmpty();
            appender.append(java.nio.ByteBuffer.wrap(new byte[]{1, 2, 3}));
            appender.append(java.nio.ByteBuffer.wrap(new byte[]{4, 5, 6, 7, 8, 9}));
        }
        assertThat(store.get("w/a").readAllBytes()).isEqualTo(new byte[]{1, 2, 3, 4, 5, 6, 7, 8, 9});
        try (dev.tidemark.storage.Appender appender = store.appender("w/b").orElseThrow()) {
            appender.append(java.nio.ByteBuffer.wrap(new byte[]{1, 2}));
        }
        assertThat(store.get("w/b").readAllBytes()).isEqualTo(new byte[]{1, 2});
        try (Stream<Path> files = Files.list(root.resolve("w"))) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("a", "b");
        }
    }

    @Test
    void directoriesAndObjectsAreTheOwnersAlone() throws IOException {
        Path fresh = root.resolve("new-repository");
        ObjectStore store = new FileObjectStore(fresh);
        try (ObjectWriter writer = store.create("db/base/b1/object")) {
            writer.write(new byte[10]);
            writer.commit();
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh))).isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh.resolve("db/base/b1")))).isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh.resolve("db/base/b1/object")))).isEqualTo("rw-------");
    }

    @Test
    void anUncommittedWriteExistsOnlyAsAHiddenTempFile() throws IOException {
        try (ObjectWriter writer = store.create("x/y")) {
            writer.write(new byte[1000]);
            try (Stream<Path> files = Files.list(root.resolve("x"))) {
                assertThat(files.map(p -> p.getFileName().toString())).allMatch(n -> n.startsWith(".tidemark-tmp-"));
            }
        }
        try (Stream<Path> files = Files.list(root.resolve("x"))) {
            assertThat(files).isEmpty();
        }
    }

    @Test
    void whatAKilledWriterLeftGoesWithItsPrefix() throws IOException {
        store.put("dump/d1/archive", new java.io.ByteArrayInputStream(new byte[10]));
        store.put("dump/d2/archive", new java.io.ByteArrayInputStream(new byte[10]));
        // a process killed while it wrote: its temporary file stays, invisible to list
        Path left = root.resolve("dump/d1/sub/.tidemark-tmp-part-0001-1234");
        Files.createDirectories(left.getParent());
        Files.write(left, new byte[100]);
        assertThat(new dev.tidemark.storage.Repository(store, new dev.tidemark.storage.layout.RepositoryLayout(""),
                new dev.tidemark.storage.codec.Codec(dev.tidemark.storage.codec.CodecSettings.defaults(
                        dev.tidemark.storage.codec.MasterKey.generate()))).deleteUnder("dump/d1/")).isEqualTo(1);
        assertThat(root.resolve("dump/d1")).as("emptied and pruned").doesNotExist();
        assertThat(store.stat("dump/d2/archive")).as("another prefix is untouched").isPresent();
    }

    @Test
    void keysCannotEscapeTheRoot() {
        assertThatThrownBy(() -> store.get("../etc/passwd")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.create("/abs")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.create("a//b")).isInstanceOf(IllegalArgumentException.class);
    }
}
