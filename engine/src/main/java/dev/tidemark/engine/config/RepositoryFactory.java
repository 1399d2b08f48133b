package dev.tidemark.engine.config;

import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecException;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.Compression;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.keys.KeyRecord;
import dev.tidemark.storage.keys.KeyRotation;
import dev.tidemark.storage.layout.RepositoryLayout;
import dev.tidemark.storage.s3.S3ObjectStore;
import dev.tidemark.storage.s3.S3Settings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/** Opens the repository the configuration names: "file:///dir" or "s3://bucket/prefix", with its codec and master key. */
public final class RepositoryFactory {
    private static final Logger LOG = LoggerFactory.getLogger(RepositoryFactory.class);

    private RepositoryFactory() {
    }

    public static Repository open(EngineConfig config) throws IOException {
        return open(config, r -> {
        });
    }

    /** A look at the repository before its key is checked (and a rotation recorded); may refuse by throwing. */
    private interface BeforeKeyCheck {
        void look(Repository repository) throws IOException;
    }

    private static Repository open(EngineConfig config, BeforeKeyCheck before) throws IOException {
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
        List<MasterKey> previous = previousKeys(config, key);
        Compression compression = Compression.parse(config.compression() == null ? "zstd" : config.compression());
        Codec codec = new Codec(new CodecSettings(compression, config.compressionLevel() == 0 ? 3 : config.compressionLevel(), key, previous));
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
        LOG.info("repository {} ({}, {})", where, key == null ? "not encrypted" : "AES-256-GCM, master key " + key.fingerprint()
                + (previous.isEmpty() ? "" : ", reading also previous keys " + fingerprints(previous)), compression.name().toLowerCase());
        Repository repository = new Repository(store, new RepositoryLayout(prefix), codec);
        try {
            before.look(repository);
            checkKey(repository, key, previous);
        } catch (IOException | RuntimeException e) {
            repository.close();
            throw e;
        }
        return repository;
    }

    /** The previous master keys of a rotation: every file must hold a key; the configured key itself is left out. */
    private static List<MasterKey> previousKeys(EngineConfig config, MasterKey key) throws IOException {
        if (config.previousKeyFiles().isEmpty()) {
            return List.of();
        }
        if (key == null) {
            throw new IllegalArgumentException("tidemark.previous-master-key-files is set but encryption is off: previous keys only"
                    + " read objects while the master key is rotated");
        }
        List<MasterKey> keys = new ArrayList<>();
        for (Path file : config.previousKeyFiles()) {
            if (!Files.exists(file)) {
                throw new IllegalArgumentException("previous master key file " + file + " does not exist: list only the keys the"
                        + " repository's objects may still be under (the repository's key record says which)");
            }
            MasterKey previous = MasterKey.load(file);
            if (!previous.fingerprint().equals(key.fingerprint()) && keys.stream().noneMatch(k -> k.fingerprint().equals(previous.fingerprint()))) {
                keys.add(previous);
            }
        }
        return keys;
    }

    private static String fingerprints(List<MasterKey> keys) {
        return keys.stream().map(MasterKey::fingerprint).collect(Collectors.joining(", "));
    }

    /**
     * Refuses to start with a key (or without one) other than the repository's: everything archived under another key
     * would be unreadable with the repository's own, and the partial WAL segment being written when the key changed
     * would be replaced by a copy under the wrong key. The repository's key record (docs/storage.md, "Keys") names its key
     * and, during a rotation, the keys rotated from; a repository written before the record existed is checked against
     * one of its objects. A configured key that the record names among the previous keys starts a rotation: from then on
     * objects are written under the new key, both read, and 'tidemark key rotate' finishes it.
     */
    static void checkKey(Repository repository, MasterKey key, List<MasterKey> previous) {
        String configured = key == null ? KeyRecord.NONE : key.fingerprint();
        String described = key == null ? "(none: encryption off)" : key.fingerprint()
                + (previous.isEmpty() ? "" : " (previous keys " + fingerprints(previous) + ")");
        try {
            Optional<KeyRecord> record;
            try {
                record = KeyRecord.read(repository);
            } catch (CodecException e) {
                String needs = KeyRecord.writtenUnder(repository).orElse("?");
                throw new IllegalStateException("the configured master key " + described + " is not the key of repository "
                        + repository.store().describe() + ": the repository needs master key " + needs
                        + (needs.equals(KeyRecord.NONE) ? " (it is not encrypted)" : "") + " (" + e.getMessage() + ")."
                        + " Nothing was written; start with the repository's key (tidemark.master-key-file)", e);
            }
            KeyRecord now = record.isPresent() ? record.get() : firstRecord(repository, configured);
            KeyRecord next = decide(now, configured, previous, repository.store().describe());
            if (record.isEmpty() || !next.equals(now)) {
                next.write(repository);
            }
            if (next.rotating()) {
                LOG.warn("repository key: {}", next.describe());
            } else {
                LOG.info("repository key: {}", next.describe());
            }
        } catch (CodecException e) {
            throw new IllegalStateException("the configured master key " + described + " is not the key of repository "
                    + repository.store().describe() + ": " + e.getMessage()
                    + ". Nothing was written; start with the repository's key (tidemark.master-key-file)", e);
        } catch (IOException e) {
            // storage unreachable now: the engine starts anyway (WAL waits in the slots); the check runs at the next start
            LOG.warn("could not check the master key against repository {} now: {}", repository.store().describe(), e.getMessage());
        }
    }

    /** A repository without a key record: new (the configured key is its key), or older than the record (one object says). */
    private static KeyRecord firstRecord(Repository repository, String configured) throws IOException {
        String probe;
        try (var objects = repository.store().list(repository.layout().databasesPrefix())) {
            probe = objects.map(o -> o.key()).filter(k -> !k.contains(".tidemark-tmp-")).findFirst().orElse(null);
        }
        if (probe == null) {
            return KeyRecord.steady(configured);
        }
        try (var in = repository.openDecoded(probe)) {
            in.readNBytes(1);
        }
        String under;
        try (var head = repository.store().get(probe, 0, Codec.MAX_HEADER)) {
            under = Optional.ofNullable(Codec.keyFingerprint(head, probe)).orElse(KeyRecord.NONE);
        }
        return under.equals(configured) ? KeyRecord.steady(configured) : new KeyRecord(configured, List.of(under));
    }

    /**
     * What the key record says after this start: unchanged when the configured key is the repository's (or the one a
     * rotation runs to, with every key it rotates from configured as previous); a rotation's start when the repository's
     * key is configured as a previous key; otherwise the start is refused, saying which keys to configure.
     */
    static KeyRecord decide(KeyRecord record, String configured, List<MasterKey> previous, String repository) {
        List<String> readable = previous.stream().map(MasterKey::fingerprint).toList();
        if (record.rotating()) {
            List<String> missing = record.rotatingFrom().stream().filter(k -> !readable.contains(k) && !k.equals(configured)).toList();
            if (!record.key().equals(configured) || !missing.isEmpty()) {
                throw new IllegalStateException("repository " + repository + " is in a master key rotation from "
                        + String.join(", ", record.rotatingFrom()) + " to " + record.key() + ", but the configured key is " + configured
                        + (readable.isEmpty() ? "" : " (previous keys " + String.join(", ", readable) + ")") + ". Nothing was written;"
                        + " until 'tidemark key rotate' finishes, configure tidemark.master-key-file with key " + record.key()
                        + " and tidemark.previous-master-key-files with " + String.join(", ", record.rotatingFrom()));
            }
            return record;
        }
        if (record.key().equals(configured)) {
            return record;
        }
        if (readable.contains(record.key())) {
            LOG.info("master key rotation of repository {} starts: new objects under {}, objects under {} read until"
                    + " 'tidemark key rotate' finishes", repository, configured, record.key());
            return new KeyRecord(configured, List.of(record.key()));
        }
        throw new IllegalStateException("repository " + repository + " needs " + record.describe() + ", but the configured key is "
                + configured + (readable.isEmpty() ? "" : " (previous keys " + String.join(", ", readable) + ")")
                + ". Nothing was written; start with the repository's key (tidemark.master-key-file), or to rotate to a new"
                + " key run 'tidemark key rotate NEW_KEY_FILE'");
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

    /**
     * Rotates the repository's master key to the key in newKeyFile (docs/operations.md, "Rotating the master key"): the
     * configured key and previous keys read, the new key writes; the key record says "rotating" until every object is
     * under the new key. Interrupted (an exception from the listener, a kill), it resumes where it stopped when run again.
     */
    /**
     * Rotates the repository to the key in newKeyFile. enginesStopped: the operator says no engine runs; otherwise an
     * engine must already write with the new key (its start recorded the rotation in the key record, which is then
     * written under the new key): a rotation run beside an engine that still writes with the old key would end "done"
     * while that engine goes on writing objects the new key alone cannot read, so it is refused.
     */
    public static KeyRotation.Summary rotateKey(EngineConfig config, Path newKeyFile, boolean enginesStopped, KeyRotation.Listener listener)
            throws IOException {
        if (config.encryptionNone()) {
            throw new IllegalArgumentException("encryption is off (encryption: none): the repository has no master key to rotate");
        }
        MasterKey next = MasterKey.load(newKeyFile); // a missing or readable-by-others key file is refused before the repository is touched
        List<Path> previous = new ArrayList<>();
        previous.add(config.masterKeyFile() != null ? config.masterKeyFile() : config.dataDirectory().resolve("master.key"));
        previous.addAll(config.previousKeyFiles());
        try (Repository repository = open(config.withMasterKeys(newKeyFile, previous), r -> {
            // the record under a configured old key: this run would start the rotation (a key that is neither is refused
            // by the key check, in its own words)
            Optional<String> recorded = KeyRecord.writtenUnder(r);
            boolean fromOld = recorded.isPresent() && r.codec().settings().previousKeys().stream()
                    .anyMatch(k -> k.fingerprint().equals(recorded.get()));
            if (!enginesStopped && fromOld) {
                throw new IllegalStateException("no engine writes with the new key " + next.fingerprint() + " yet: the repository's key"
                        + " record names master key " + recorded.get() + ". An engine still running with that key would go on"
                        + " writing objects after the rotation says done, and the new key alone could not read them. Nothing was"
                        + " changed. Either restart every engine with master-key-file " + newKeyFile.toAbsolutePath() + " and the old"
                        + " key among previous-master-key-files first (docs/operations.md, step 2), or stop every engine and add"
                        + " --engines-stopped");
            }
        })) {
            return KeyRotation.run(repository, listener);
        }
    }
}
