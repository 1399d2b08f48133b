package dev.tidemark.storage.file;

import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;
import dev.tidemark.storage.testing.ObjectStoreContract;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
    void keysCannotEscapeTheRoot() {
        assertThatThrownBy(() -> store.get("../etc/passwd")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.create("/abs")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.create("a//b")).isInstanceOf(IllegalArgumentException.class);
    }
}
