package dev.tidemark.api;

import dev.tidemark.api.server.TidemarkProperties;
import dev.tidemark.engine.EngineConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Secure defaults of the server's configuration. */
class ConfigurationTest {

    @Test
    void anS3RepositoryWithoutAKeyIsRefusedUnlessEncryptionIsExplicitlyNone(@TempDir Path dir) {
        TidemarkProperties p = new TidemarkProperties();
        p.setDataDirectory(dir);
        p.getRepository().setUri("s3://backups/prod");
        p.getRepository().setEndpoint("http://127.0.0.1:9000");
        assertThatThrownBy(p::toEngineConfig).hasMessageContaining("master-key-file").hasMessageContaining("encryption: none");
        p.setEncryption("none");
        assertThat(p.toEngineConfig().encryptionNone()).isTrue();
        p.setEncryption("rot13");
        assertThatThrownBy(p::toEngineConfig).hasMessageContaining("aes-256-gcm");
    }

    @Test
    void aFileRepositoryDefaultsUnderTheDataDirectoryWithAKeyBesideIt(@TempDir Path dir) {
        TidemarkProperties p = new TidemarkProperties();
        p.setDataDirectory(dir);
        EngineConfig c = p.toEngineConfig();
        assertThat(c.repository().uri()).isEqualTo(dir.resolve("repository").toUri().toString());
        assertThat(c.masterKeyFile()).isEqualTo(dir.resolve("master.key"));
        assertThat(c.toString()).doesNotContain("secret");
    }
}
