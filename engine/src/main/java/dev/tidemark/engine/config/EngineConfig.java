package dev.tidemark.engine.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Everything the engine needs to start. Secrets (S3 secret key, catalog password, PostgreSQL passwords, the master
 * key) arrive here from the environment or files; the engine never logs them nor puts them in an event.
 *
 * @param dataDirectory      spool, embedded catalog, generated files; created when missing
 * @param catalogJdbcUrl     null: embedded catalog database under dataDirectory; else a jdbc:postgresql:// URL
 * @param repository         where backups live
 * @param masterKeyFile      AES-256 master key; null only when encryption is explicitly "none"
 * @param compression        "zstd" (default), "lz4" or "none"
 * @param kafkaBootstrap     null: publication to Kafka off
 * @param pgBinDirectory     null: the newest installed PostgreSQL binaries
 * @param pgPasswords        password per protected database id, for servers that need one (never stored elsewhere)
 * @param workers            parallel workers of base backups and restores
 * @param walPartialInterval how often the WAL segment being written is uploaded
 * @param schedulerEnabled   run the scheduled jobs (weekly base backups, daily dumps, expiry) on this node
 * @param nodeId             this engine node's name in a multi-node setup
 * @param restoreRoots       empty: a restore beside its source may go anywhere the checks allow; else under one of these
 * @param recoverOnStart     an empty catalog on a repository holding databases: recover it (true) or refuse to start
 * @param walBufferMemory    bytes of WAL segment buffers all streams share; 0: a quarter of the heap, 32 to 256 MiB
 * @param maxConcurrentJobs  base backups, dumps and restores running at once on this node, the rest queued in order; 0: 2
 * @param previousKeyFiles   master keys objects may still be under while a key rotation runs: they read, masterKeyFile writes
 */
public record EngineConfig(
        Path dataDirectory,
        String catalogJdbcUrl,
        String catalogUser,
        String catalogPassword,
        RepositoryConfig repository,
        Path masterKeyFile,
        boolean encryptionNone,
        String compression,
        int compressionLevel,
        String kafkaBootstrap,
        String kafkaTopic,
        Path pgBinDirectory,
        Map<String, String> pgPasswords,
        int workers,
        Duration walPartialInterval,
        boolean schedulerEnabled,
        String nodeId,
        List<Path> restoreRoots,
        boolean recoverOnStart,
        long walBufferMemory,
        int maxConcurrentJobs,
        List<Path> previousKeyFiles) {

    /** Base backups, dumps and restores running at once when nothing is configured. */
    public static final int DEFAULT_MAX_CONCURRENT_JOBS = 2;

    public EngineConfig {
        restoreRoots = restoreRoots == null ? List.of() : List.copyOf(restoreRoots);
        previousKeyFiles = previousKeyFiles == null ? List.of() : List.copyOf(previousKeyFiles);
        if (walBufferMemory < 0 || maxConcurrentJobs < 0) {
            throw new IllegalArgumentException("wal-buffer-memory and max-concurrent-jobs must be positive (or 0 for the default)");
        }
        maxConcurrentJobs = maxConcurrentJobs == 0 ? DEFAULT_MAX_CONCURRENT_JOBS : maxConcurrentJobs;
    }

    /** Recovering an empty catalog at start (issue 18), with the default WAL buffer memory and job limit. */
    public EngineConfig(Path dataDirectory, String catalogJdbcUrl, String catalogUser, String catalogPassword, RepositoryConfig repository,
                        Path masterKeyFile, boolean encryptionNone, String compression, int compressionLevel, String kafkaBootstrap,
                        String kafkaTopic, Path pgBinDirectory, Map<String, String> pgPasswords, int workers, Duration walPartialInterval,
                        boolean schedulerEnabled, String nodeId, List<Path> restoreRoots) {
        this(dataDirectory, catalogJdbcUrl, catalogUser, catalogPassword, repository, masterKeyFile, encryptionNone, compression,
                compressionLevel, kafkaBootstrap, kafkaTopic, pgBinDirectory, pgPasswords, workers, walPartialInterval, schedulerEnabled,
                nodeId, restoreRoots, true, 0, 0, List.of());
    }

    public EngineConfig withRecoverOnStart(boolean recover) {
        return new EngineConfig(dataDirectory, catalogJdbcUrl, catalogUser, catalogPassword, repository, masterKeyFile, encryptionNone,
                compression, compressionLevel, kafkaBootstrap, kafkaTopic, pgBinDirectory, pgPasswords, workers, walPartialInterval,
                schedulerEnabled, nodeId, restoreRoots, recover, walBufferMemory, maxConcurrentJobs, previousKeyFiles);
    }

    /** Without restore roots. */
    public EngineConfig(Path dataDirectory, String catalogJdbcUrl, String catalogUser, String catalogPassword, RepositoryConfig repository,
                        Path masterKeyFile, boolean encryptionNone, String compression, int compressionLevel, String kafkaBootstrap,
                        String kafkaTopic, Path pgBinDirectory, Map<String, String> pgPasswords, int workers, Duration walPartialInterval,
                        boolean schedulerEnabled, String nodeId) {
        this(dataDirectory, catalogJdbcUrl, catalogUser, catalogPassword, repository, masterKeyFile, encryptionNone, compression,
                compressionLevel, kafkaBootstrap, kafkaTopic, pgBinDirectory, pgPasswords, workers, walPartialInterval, schedulerEnabled,
                nodeId, List.of());
    }

    /** The same with another WAL buffer memory (bytes, 0: the default) and job limit (0: the default). */
    public EngineConfig withFleetLimits(long walBufferMemory, int maxConcurrentJobs) {
        return new EngineConfig(dataDirectory, catalogJdbcUrl, catalogUser, catalogPassword, repository, masterKeyFile, encryptionNone,
                compression, compressionLevel, kafkaBootstrap, kafkaTopic, pgBinDirectory, pgPasswords, workers, walPartialInterval,
                schedulerEnabled, nodeId, restoreRoots, recoverOnStart, walBufferMemory, maxConcurrentJobs, previousKeyFiles);
    }

    /** The same with another master key (new objects are written under it) and previous keys (objects under them still read). */
    public EngineConfig withMasterKeys(Path masterKey, List<Path> previous) {
        return new EngineConfig(dataDirectory, catalogJdbcUrl, catalogUser, catalogPassword, repository, masterKey, encryptionNone,
                compression, compressionLevel, kafkaBootstrap, kafkaTopic, pgBinDirectory, pgPasswords, workers, walPartialInterval,
                schedulerEnabled, nodeId, restoreRoots, recoverOnStart, walBufferMemory, maxConcurrentJobs, previous);
    }

    /**
     * The repository: "file:///var/lib/tidemark/repo" or "s3://bucket/prefix" with the S3 fields.
     *
     * @param maxParts the store's multipart part-count limit (AWS 10,000; some S3-compatible stores 1,000)
     */
    public record RepositoryConfig(String uri, String endpoint, String region, String accessKey, String secretKey, int maxParts) {
        @Override
        public String toString() {
            return "RepositoryConfig[uri=" + uri + ", endpoint=" + endpoint + ", region=" + region + ", maxParts=" + maxParts + "]";
        }
    }

    /** Defaults for a single host: embedded catalog, file repository under the data directory, zstd-3, no Kafka. */
    public static EngineConfig singleHost(Path dataDirectory, Path repositoryDirectory, Path masterKeyFile) {
        return new EngineConfig(dataDirectory, null, null, null,
                new RepositoryConfig(repositoryDirectory.toUri().toString(), null, null, null, null, 10_000),
                masterKeyFile, false, "zstd", 3, null, "tidemark.events", null, Map.of(),
                Math.max(2, Runtime.getRuntime().availableProcessors()), Duration.ofSeconds(2), true, "node-1");
    }

    @Override
    public String toString() {
        return "EngineConfig[dataDirectory=" + dataDirectory + ", catalog=" + (catalogJdbcUrl == null ? "embedded" : dev.tidemark.engine.postgres.PgConnections.redact(catalogJdbcUrl))
                + ", repository=" + repository + ", encryption=" + (encryptionNone ? "none" : "aes-256-gcm")
                + ", compression=" + compression + ", kafka=" + kafkaBootstrap + ", workers=" + workers + ", maxConcurrentJobs=" + maxConcurrentJobs
                + ", walBufferMemory=" + (walBufferMemory == 0 ? "default" : (walBufferMemory >> 20) + " MiB") + ", node=" + nodeId
                + (restoreRoots.isEmpty() ? "" : ", restoreRoots=" + restoreRoots) + "]";
    }
}
