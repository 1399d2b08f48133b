package dev.tidemark.engine.config;

import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.Compression;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;
import dev.tidemark.storage.s3.S3ObjectStore;
import dev.tidemark.storage.s3.S3Settings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens the repository the configuration names: "file:///dir" or "s3://bucket/prefix", with its codec and master key. */
public final class RepositoryFactory {
    private static final Logger LOG = LoggerFactory.getLogger(RepositoryFactory.class);

    private RepositoryFactory() {
    }

    public static Repository open(EngineConfig config) throws IOException {
        EngineConfig.RepositoryConfig repo = config.repository();
        if (repo == null || repo.uri() == null || repo.uri().isBlank()) {
            throw new IllegalArgumentException("no repository configured: set tidemark.repository.uri to file:///path or s3://bucket/prefix");
        }
        URI uri;
        try {
            uri = URI.create(repo.uri().trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("repository URI '" + repo.uri() + "' is not a URI: use file:///path or s3://bucket/prefix");
        }
        boolean s3 = "s3".equals(uri.getScheme());
        boolean existingLocal = "file".equals(uri.getScheme()) && Files.isDirectory(Path.of(uri)) && hasEntries(Path.of(uri));
        MasterKey key = masterKey(config, s3 || existingLocal);
        Compression compression = Compression.parse(config.compression() == null ? "zstd" : config.compression());
        Codec codec = new Codec(new CodecSettings(compression, config.compressionLevel() == 0 ? 3 : config.compressionLevel(), key));
        ObjectStore store;
        String prefix;
        if ("file".equals(uri.getScheme())) {
            store = new FileObjectStore(Path.of(uri));
            prefix = "";
        } else if (s3) {
            String bucket = uri.getHost();
            if (bucket == null) {
                throw new IllegalArgumentException("repository URI '" + repo.uri() + "' names no bucket: use s3://bucket/prefix");
            }
            if (repo.endpoint() == null || repo.endpoint().isBlank()) {
                throw new IllegalArgumentException("an s3:// repository needs tidemark.repository.endpoint (e.g. https://s3.eu-west-1.amazonaws.com)");
            }
            prefix = uri.getPath() == null ? "" : uri.getPath().replaceAll("^/+|/+$", "");
            store = new S3ObjectStore(S3Settings.of(repo.endpoint(), repo.region(), bucket, repo.accessKey(), repo.secretKey(),
                    repo.maxParts() == 0 ? 10_000 : repo.maxParts())).verify(false);
        } else {
            throw new IllegalArgumentException("repository URI '" + repo.uri() + "' has an unknown scheme: use file:///path or s3://bucket/prefix");
        }
        // s3://bucket/prefix at ENDPOINT: the prefix belongs to the bucket, not to the endpoint
        String where = s3 ? "s3://" + uri.getHost() + (prefix.isEmpty() ? "" : "/" + prefix) + " at " + repo.endpoint()
                : store.describe() + (prefix.isEmpty() ? "" : "/" + prefix);
        LOG.info("repository {} ({}, {})", where,
                key == null ? "not encrypted" : "AES-256-GCM, master key " + key.fingerprint(), compression.name().toLowerCase());
        Repository repository = new Repository(store, new RepositoryLayout(prefix), codec);
        checkKey(repository, key);
        return repository;
    }

    /**
     * Refuses to start with a key (or without one) other than the repository's: everything archived under another key
     * would be unreadable with the repository's own, and the partial WAL segment being written when the key changed
     * would be replaced by a copy under the wrong key. The repository holds a small object encoded with its key; a
     * repository written before that object existed is checked against one of its objects.
     */
    static void checkKey(Repository repository, MasterKey key) {
        String check = repository.layout().keyCheck();
        try {
            String probe = check;
            if (repository.store().stat(check).isEmpty()) {
                try (var objects = repository.store().list(repository.layout().databasesPrefix())) {
                    probe = objects.map(o -> o.key()).filter(k -> !k.contains(".tidemark-tmp-")).findFirst().orElse(null);
                }
            }
            if (probe != null) {
                try (var in = repository.openDecoded(probe)) {
                    in.readNBytes(1);
                }
            }
            if (probe == null || !probe.equals(check)) {
                repository.putEncoded(check, new java.io.ByteArrayInputStream(
                        "Tidemark repository: this object is encoded with the repository's master key\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
            }
        } catch (dev.tidemark.storage.codec.CodecException e) {
            throw new IllegalStateException("the configured master key " + (key == null ? "(none: encryption off)" : key.fingerprint())
                    + " is not the key of repository " + repository.store().describe() + ": " + e.getMessage()
                    + ". Nothing was written; start with the repository's key (tidemark.master-key-file)", e);
        } catch (IOException e) {
            // storage unreachable now: the engine starts anyway (WAL waits in the slots); the check runs at the next start
            LOG.warn("could not check the master key against repository {} now: {}", repository.store().describe(), e.getMessage());
        }
    }

    private static boolean hasEntries(Path directory) throws IOException {
        try (var entries = Files.list(directory)) {
            return entries.findAny().isPresent();
        }
    }

    /**
     * The master key: loaded from its file; generated (mode 0600) when the file does not exist and the repository is
     * local and still empty (a new key cannot read an existing repository); refused for S3 unless encryption is explicitly "none".
     */
    static MasterKey masterKey(EngineConfig config, boolean mustExist) throws IOException {
        if (config.encryptionNone()) {
            LOG.warn("encryption is off (encryption: none): backups are stored in clear");
            return null;
        }
        Path file = config.masterKeyFile();
        if (file == null) {
            if (mustExist) {
                throw new IllegalArgumentException("this repository (S3, or a directory that already holds backups) needs a master key: "
                        + "set tidemark.master-key-file (for a new repository create one with 'tidemark key generate FILE'), "
                        + "or say encryption: none explicitly");
            }
            file = config.dataDirectory().resolve("master.key");
        }
        if (!Files.exists(file)) {
            if (mustExist) {
                throw new IllegalArgumentException("master key file " + file + " does not exist: for a new S3 repository create it with "
                        + "'tidemark key generate " + file + "'; for an existing repository restore the key it was written with");
            }
            MasterKey generated = MasterKey.generate();
            generated.writeTo(file);
            LOG.info("generated a master key in {} (mode 0600): keep a copy apart from the repository; without it no backup can be read", file);
            return generated;
        }
        return MasterKey.load(file);
    }
}
