package dev.tidemark.engine.config;

import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.keys.KeyRecord;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The start-up key check against the repository's key record, without PostgreSQL: which keys start, which are refused. */
class RepositoryKeyCheckTest {
    @TempDir
    Path tmp;

    private Path key(String name) throws IOException {
        Path file = tmp.resolve(name);
        MasterKey.generate().writeTo(file);
        return file;
    }

    private EngineConfig config(Path key, Path... previous) {
        return EngineConfig.singleHost(tmp.resolve("data"), tmp.resolve("repo"), key).withMasterKeys(key, List.of(previous));
    }

    /** A repository as the release before the key record wrote it: objects under the key, no record. */
    private void olderRepository(Path key) throws IOException {
        Repository old = new Repository(new FileObjectStore(tmp.resolve("repo")), new RepositoryLayout(""),
                new Codec(CodecSettings.defaults(MasterKey.load(key))));
        old.putEncoded("db/shop/base/b1/manifest", new ByteArrayInputStream(new byte[100]));
    }

    private KeyRecord record(Path key, Path... previous) throws IOException {
        try (Repository repository = RepositoryFactory.open(config(key, previous))) {
            return KeyRecord.read(repository).orElseThrow();
        }
    }

    @Test
    void aRepositoryWithoutARecordGetsOneNamingTheKeyOfItsObjects() throws IOException {
        Path a = key("a.key");
        olderRepository(a);
        assertThat(record(a)).isEqualTo(KeyRecord.steady(MasterKey.load(a).fingerprint()));
    }

    @Test
    void anOlderRepositoryOpenedWithANewKeyAndItsOwnAsPreviousStartsARotation() throws IOException {
        Path a = key("a.key");
        Path b = key("b.key");
        olderRepository(a);
        KeyRecord rotating = record(b, a);
        assertThat(rotating).isEqualTo(new KeyRecord(MasterKey.load(b).fingerprint(), List.of(MasterKey.load(a).fingerprint())));
        // the old key alone no longer starts: objects are being written under the new one
        assertThatThrownBy(() -> RepositoryFactory.open(config(a))).hasMessageContaining("the repository needs master key "
                + MasterKey.load(b).fingerprint());
        // the new key without the old one cannot read what is not rotated yet
        assertThatThrownBy(() -> RepositoryFactory.open(config(b))).hasMessageContaining("previous-master-key-files with "
                + MasterKey.load(a).fingerprint());
        assertThat(record(b, a)).isEqualTo(rotating);
    }

    @Test
    void aKeyThatIsNeitherIsRefusedAndNothingIsWritten() throws IOException {
        Path a = key("a.key");
        Path stranger = key("stranger.key");
        olderRepository(a);
        assertThatThrownBy(() -> RepositoryFactory.open(config(stranger))).hasMessageContaining("is not the key of repository")
                .hasMessageContaining("was encrypted with master key " + MasterKey.load(a).fingerprint());
        assertThat(Files.exists(tmp.resolve("repo/repository-key-check"))).isFalse();
        record(a);
        byte[] written = Files.readAllBytes(tmp.resolve("repo/repository-key-check"));
        assertThatThrownBy(() -> RepositoryFactory.open(config(stranger, key("other.key"))))
                .hasMessageContaining("the repository needs master key " + MasterKey.load(a).fingerprint());
        assertThat(Files.readAllBytes(tmp.resolve("repo/repository-key-check"))).isEqualTo(written);
    }

    @Test
    void aPreviousKeyFileThatDoesNotExistIsNamed() throws IOException {
        Path a = key("a.key");
        assertThatThrownBy(() -> RepositoryFactory.open(config(a, tmp.resolve("gone.key"))))
                .hasMessageContaining("previous master key file " + tmp.resolve("gone.key") + " does not exist");
    }
}
