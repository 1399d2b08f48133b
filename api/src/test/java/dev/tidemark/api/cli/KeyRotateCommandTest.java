package dev.tidemark.api.cli;

import dev.tidemark.api.Tidemark;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * tidemark key rotate NEW_KEY_FILE --config FILE on a file repository: progress and a summary, the repository readable
 * with the new key alone afterwards, a second run finding everything done, and the refusals (a key file others may
 * read, a configuration whose key is not the repository's) changing nothing.
 */
class KeyRotateCommandTest {
    @TempDir
    Path tmp;

    private record Run(int exit, String out, String err) {
    }

    private static Run cli(String... args) {
        PrintStream original = System.out;
        PrintStream originalErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int exit = Tidemark.commandLine().execute(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(original);
            System.setErr(originalErr);
        }
    }

    private Path config(Path key) throws Exception {
        Path file = tmp.resolve("tidemark-" + key.getFileName() + ".yml");
        Files.writeString(file, "tidemark:\n  data-directory: " + tmp.resolve("data") + "\n  repository:\n    uri: "
                + tmp.resolve("repo").toUri() + "\n  master-key-file: " + key + "\n");
        return file;
    }

    @Test
    void rotatesSaysWhatItDidAndARepeatFindsEverythingDone() throws Exception {
        Path oldKey = tmp.resolve("old.key");
        Path newKey = tmp.resolve("new.key");
        assertThat(cli("key", "generate", oldKey.toString()).exit()).isZero();
        assertThat(cli("key", "generate", newKey.toString()).exit()).isZero();
        Repository underOld = new Repository(new FileObjectStore(tmp.resolve("repo")), new RepositoryLayout(""),
                new Codec(CodecSettings.defaults(MasterKey.load(oldKey))));
        for (int i = 0; i < 30; i++) {
            underOld.putEncoded("db/shop/base/b1/data/" + i, new ByteArrayInputStream(("bundle " + i).getBytes(StandardCharsets.UTF_8)));
        }
        Path config = config(oldKey);

        Files.setPosixFilePermissions(newKey, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        Run lax = cli("key", "rotate", newKey.toString(), "--config", config.toString());
        assertThat(lax.exit()).isEqualTo(2);
        assertThat(lax.err()).contains("chmod 600");
        assertThat(tmp.resolve("repo/repository-key-check")).doesNotExist();
        Files.setPosixFilePermissions(newKey, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));

        Run rotated = cli("key", "rotate", newKey.toString(), "--config", config.toString());
        assertThat(rotated.exit()).as(rotated.err()).isZero();
        String fingerprint = MasterKey.load(newKey).fingerprint();
        assertThat(rotated.out()).contains("pass 1 of 2: 30 / 30 objects", "pass 2 of 2: 30 / 30 objects",
                "30 objects: 0 already under key " + fingerprint + ", 30 re-wrapped", "done: every object is under master key " + fingerprint);
        Repository underNew = new Repository(new FileObjectStore(tmp.resolve("repo")), new RepositoryLayout(""),
                new Codec(CodecSettings.defaults(MasterKey.load(newKey))));
        try (InputStream in = underNew.openDecoded("db/shop/base/b1/data/7")) {
            assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("bundle 7");
        }

        Run again = cli("key", "rotate", newKey.toString(), "--config", config(newKey).toString());
        assertThat(again.exit()).as(again.err()).isZero();
        assertThat(again.out()).contains("30 objects: 30 already under key " + fingerprint + ", 0 re-wrapped");

        // a rotation from the repository's key while no engine writes with the new one: refused unless the engines are
        // said to be stopped (one running with the old key would write on after the "done")
        Path third = tmp.resolve("third.key");
        assertThat(cli("key", "generate", third.toString()).exit()).isZero();
        byte[] steady = Files.readAllBytes(tmp.resolve("repo/repository-key-check"));
        Run unsafe = cli("key", "rotate", third.toString(), "--config", config(newKey).toString());
        assertThat(unsafe.exit()).as(unsafe.out()).isEqualTo(2);
        assertThat(unsafe.err()).contains("no engine writes with the new key", "--engines-stopped");
        assertThat(Files.readAllBytes(tmp.resolve("repo/repository-key-check"))).as("nothing changed").isEqualTo(steady);
        Run stopped = cli("key", "rotate", third.toString(), "--config", config(newKey).toString(), "--engines-stopped");
        assertThat(stopped.exit()).as(stopped.err()).isZero();
        assertThat(stopped.out()).contains("done: every object is under master key " + MasterKey.load(third).fingerprint());
        fingerprint = MasterKey.load(third).fingerprint();

        // the old key alone no longer opens the repository: refused, the record unchanged
        byte[] record = Files.readAllBytes(tmp.resolve("repo/repository-key-check"));
        Path other = tmp.resolve("other.key");
        MasterKey.generate().writeTo(other);
        Run refused = cli("key", "rotate", other.toString(), "--config", config.toString());
        assertThat(refused.exit()).isEqualTo(2);
        assertThat(refused.err()).contains("error: no key rotation:", "the repository needs master key " + fingerprint);
        assertThat(Files.readAllBytes(tmp.resolve("repo/repository-key-check"))).isEqualTo(record);
    }
}
