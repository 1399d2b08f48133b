package dev.tidemark.engine.testing;

import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Repositories for tests: a file store in a temp directory, encrypted with a fresh master key. */
public final class TestRepositories {
    private TestRepositories() {
    }

    public static Repository file(Path root) {
        return new Repository(new FileObjectStore(root), new RepositoryLayout(""), new Codec(CodecSettings.defaults(MasterKey.generate())));
    }

    /** A second repository over a copy of a file repository's objects, readable with the same codec. */
    public static Repository copyOf(Repository original, Path originalRoot, Path copyRoot) throws IOException {
        try (Stream<Path> files = Files.walk(originalRoot)) {
            for (Path p : files.toList()) {
                Path to = copyRoot.resolve(originalRoot.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(to);
                } else {
                    Files.copy(p, to);
                }
            }
        }
        return new Repository(new FileObjectStore(copyRoot), original.layout(), original.codec());
    }

    /** Flips one byte of a stored object, as a bad disk or a tampering hand would. */
    public static void flipByte(Path root, String key, long offset) throws IOException {
        Path file = root.resolve(key);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(Math.min(offset, f.length() - 1));
            int b = f.read();
            f.seek(Math.min(offset, f.length() - 1));
            f.write(b ^ 0x40);
        }
    }
}
