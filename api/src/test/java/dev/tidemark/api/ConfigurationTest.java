package dev.tidemark.api;

import dev.tidemark.api.server.ConfigKeys;
import dev.tidemark.api.server.TidemarkProperties;
import dev.tidemark.engine.config.EngineConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

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
    void aSecretNamingAnUnsetVariableIsRefusedAtStartWithItsName(@TempDir Path dir) {
        TidemarkProperties p = new TidemarkProperties();
        p.setDataDirectory(dir);
        p.getRepository().setSecretKey("${S3_SECRET_KEY}");
        assertThatThrownBy(p::toEngineConfig).hasMessageContaining("tidemark.repository.secret-key names the variable S3_SECRET_KEY")
                .hasMessageContaining("not set");
        p.getRepository().setSecretKey("plain");
        p.getCatalog().setPassword("${CATALOG_PASSWORD}");
        assertThatThrownBy(p::toEngineConfig).hasMessageContaining("tidemark.catalog.password names the variable CATALOG_PASSWORD");
        p.getCatalog().setPassword(null);
        p.getPgPasswords().put("shop-eu", "${SHOP_PASSWORD:}");
        assertThatThrownBy(p::toEngineConfig).hasMessageContaining("tidemark.pg-passwords.shop-eu names the variable SHOP_PASSWORD");
    }

    @Test
    void aFileRepositoryDefaultsUnderTheDataDirectoryWithAKeyBesideIt(@TempDir Path dir) {
        TidemarkProperties p = new TidemarkProperties();
        p.setDataDirectory(dir);
        EngineConfig c = p.toEngineConfig();
        assertThat(c.repository().uri()).isEqualTo(dir.resolve("repository").toUri().toString());
        assertThat(c.masterKeyFile()).isEqualTo(dir.resolve("master.key"));
        assertThat(c.toString()).doesNotContain("secret");
        assertThat(c.walBufferMemory()).as("the default: sized from the heap").isZero();
        assertThat(c.maxConcurrentJobs()).isEqualTo(2);
        p.setWalBufferMemory(org.springframework.util.unit.DataSize.ofMegabytes(64));
        p.setMaxConcurrentJobs(3);
        assertThat(p.toEngineConfig().walBufferMemory()).isEqualTo(64L << 20);
        assertThat(p.toEngineConfig().maxConcurrentJobs()).isEqualTo(3);
    }

    @Test
    void everyKeyOfTheDocumentedExampleIsKnownAndAMisspeltOneIsNamed() throws Exception {
        String doc = java.nio.file.Files.readString(Path.of("..", "docs", "configuration.md"));
        String example = doc.substring(doc.indexOf("```yaml") + 7, doc.indexOf("```", doc.indexOf("```yaml") + 7));
        List<Object> documents = new java.util.ArrayList<>();
        new org.yaml.snakeyaml.Yaml().loadAll(example).forEach(documents::add);
        assertThat(ConfigKeys.unknown(documents)).as("docs/configuration.md").isEmpty();

        List<Object> typo = new java.util.ArrayList<>();
        new org.yaml.snakeyaml.Yaml().loadAll("""
                tidemark:
                  repositry:
                    uri: s3://backups/prod
                  dataDirectory: /srv/tm
                  catalog.jdbc_url: jdbc:postgresql://x/y
                  workers:
                    count: 2
                  tokens:
                    - name: a
                      secret: x
                tidemark.kafka.bootstrapservers: k:9092
                tidemark.tokens[1].name: b
                tidemark.tokens[1].scope: read
                tidemark.kafka.topics: t
                server:
                  port: 8432
                """).forEach(typo::add);
        assertThat(ConfigKeys.unknown(typo)).containsExactly(
                "unknown setting tidemark.repositry (known under tidemark: data-directory, catalog, repository, master-key-file,"
                        + " previous-master-key-files, encryption, compression, compression-level, kafka, pg-bin-directory, pg-passwords, workers,"
                        + " wal-partial-interval, wal-buffer-memory, max-concurrent-jobs, scheduler, node-id, restore-roots, tokens,"
                        + " allowed-hosts)",
                "tidemark.workers is a single value; it has no settings under it",
                "unknown setting tidemark.tokens[0].secret (known under tidemark.tokens[0]: name, sha256, scope, databases)",
                "unknown setting tidemark.kafka.topics (known under tidemark.kafka: bootstrap-servers, topic)");
    }

    @Test
    void anOperatorTokenNeedsDatabasesAndOnlyOperatorTokensTakeThem() {
        assertThat(tokenProblem("operator", List.of())).contains("operator token with no databases");
        assertThat(tokenProblem("read", List.of("shop"))).contains("only operator tokens are limited to databases");
        assertThat(tokenProblem("operator", List.of("shop"))).isNull();
    }

    private static String tokenProblem(String scope, List<String> databases) {
        dev.tidemark.api.server.TidemarkProperties properties = new dev.tidemark.api.server.TidemarkProperties();
        dev.tidemark.api.server.TidemarkProperties.Token token = new dev.tidemark.api.server.TidemarkProperties.Token();
        token.setName("t");
        token.setScope(scope);
        token.setSha256("a".repeat(64));
        token.setDatabases(new java.util.ArrayList<>(databases));
        properties.getTokens().add(token);
        try {
            dev.tidemark.api.server.Tokens.from(properties);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }
}
