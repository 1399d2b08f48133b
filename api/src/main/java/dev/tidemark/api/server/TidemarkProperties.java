package dev.tidemark.api.server;

import dev.tidemark.engine.config.EngineConfig;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.core.env.PropertySource;
import org.springframework.core.env.SystemEnvironmentPropertySource;
import org.springframework.core.io.ClassPathResource;
import org.springframework.core.io.FileSystemResource;
import org.springframework.util.unit.DataSize;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything under "tidemark." in the YAML configuration (environment overrides follow Spring Boot's rules, e.g.
 * TIDEMARK_REPOSITORY_SECRET_KEY). Every key is described in docs/configuration.md.
 */
@ConfigurationProperties("tidemark")
public class TidemarkProperties {
    private Path dataDirectory = Path.of(System.getProperty("user.home"), ".tidemark");
    private Catalog catalog = new Catalog();
    private Repository repository = new Repository();
    private Path masterKeyFile;
    /** Keys objects may still be under while a master key rotation runs (docs/operations.md): they read, the master key writes. */
    private List<Path> previousMasterKeyFiles = new ArrayList<>();
    private String encryption = "aes-256-gcm";
    private String compression = "zstd";
    private int compressionLevel = 3;
    private Kafka kafka = new Kafka();
    private Path pgBinDirectory;
    private Map<String, String> pgPasswords = new LinkedHashMap<>();
    private int workers = Math.max(2, Runtime.getRuntime().availableProcessors());
    private Duration walPartialInterval = Duration.ofSeconds(2);
    /** null: a quarter of the heap, 32 to 256 MiB. */
    private DataSize walBufferMemory;
    private int maxConcurrentJobs = EngineConfig.DEFAULT_MAX_CONCURRENT_JOBS;
    private Scheduler scheduler = new Scheduler();
    private String nodeId = "node-1";
    private List<Path> restoreRoots = new ArrayList<>();
    private List<Token> tokens = new ArrayList<>();
    private List<String> allowedHosts = new ArrayList<>();

    public static class Catalog {
        private String jdbcUrl;
        private String user;
        private String password;
        /** An empty catalog on a repository holding databases: recover it from the repository (issue 18), or refuse to start. */
        private boolean recoverOnStart = true;

        public boolean isRecoverOnStart() { return recoverOnStart; }
        public void setRecoverOnStart(boolean v) { recoverOnStart = v; }
        public String getJdbcUrl() { return jdbcUrl; }
        public void setJdbcUrl(String v) { jdbcUrl = v; }
        public String getUser() { return user; }
        public void setUser(String v) { user = v; }
        public String getPassword() { return password; }
        public void setPassword(String v) { password = v; }
    }

    public static class Repository {
        private String uri;
        private String endpoint;
        private String region;
        private String accessKey;
        private String secretKey;
        private int maxParts = 10_000;

        public String getUri() { return uri; }
        public void setUri(String v) { uri = v; }
        public String getEndpoint() { return endpoint; }
        public void setEndpoint(String v) { endpoint = v; }
        public String getRegion() { return region; }
        public void setRegion(String v) { region = v; }
        public String getAccessKey() { return accessKey; }
        public void setAccessKey(String v) { accessKey = v; }
        public String getSecretKey() { return secretKey; }
        public void setSecretKey(String v) { secretKey = v; }
        public int getMaxParts() { return maxParts; }
        public void setMaxParts(int v) { maxParts = v; }
    }

    public static class Kafka {
        private String bootstrapServers;
        private String topic = "tidemark.events";

        public String getBootstrapServers() { return bootstrapServers; }
        public void setBootstrapServers(String v) { bootstrapServers = v; }
        public String getTopic() { return topic; }
        public void setTopic(String v) { topic = v; }
    }

    public static class Scheduler {
        private boolean enabled = true;

        public boolean isEnabled() { return enabled; }
        public void setEnabled(boolean v) { enabled = v; }
    }

    /** An API token: its name (recorded as the actor), the SHA-256 of its secret, a scope and, for operators, databases. */
    public static class Token {
        private String name;
        private String sha256;
        private String scope = "read";
        private List<String> databases = new ArrayList<>();

        public String getName() { return name; }
        public void setName(String v) { name = v; }
        public String getSha256() { return sha256; }
        public void setSha256(String v) { sha256 = v; }
        public String getScope() { return scope; }
        public void setScope(String v) { scope = v; }
        public List<String> getDatabases() { return databases; }
        public void setDatabases(List<String> v) { databases = v; }
    }

    /**
     * The configuration as tidemark serve reads it, for the commands that run the engine's work offline: the server's
     * defaults, then the file, then environment variables (TIDEMARK_REPOSITORY_URI, ...) over both.
     */
    public static TidemarkProperties load(Path file) throws IOException {
        YamlPropertySourceLoader yaml = new YamlPropertySourceLoader();
        List<PropertySource<?>> sources = new ArrayList<>();
        sources.add(new SystemEnvironmentPropertySource("environment", new LinkedHashMap<String, Object>(System.getenv())));
        if (file != null) {
            sources.addAll(yaml.load("file", new FileSystemResource(file)));
        }
        sources.addAll(yaml.load("defaults", new ClassPathResource("application.yml")));
        return new Binder(
                ConfigurationPropertySources.from(sources))
                .bindOrCreate("tidemark", TidemarkProperties.class);
    }

    /** The engine's configuration; refuses an S3 repository without a key unless encryption is explicitly none. */
    public EngineConfig toEngineConfig() {
        unresolved("tidemark.repository.secret-key", repository.getSecretKey());
        unresolved("tidemark.repository.access-key", repository.getAccessKey());
        unresolved("tidemark.catalog.password", catalog.getPassword());
        unresolved("tidemark.catalog.jdbc-url", catalog.getJdbcUrl());
        pgPasswords.forEach((id, password) -> unresolved("tidemark.pg-passwords." + id, password));
        boolean none = "none".equalsIgnoreCase(encryption);
        if (!none && !"aes-256-gcm".equalsIgnoreCase(encryption)) {
            throw new IllegalArgumentException("tidemark.encryption is '" + encryption + "': use aes-256-gcm (the default) or none");
        }
        String uri = repository.getUri() == null || repository.getUri().isBlank()
                ? dataDirectory.toAbsolutePath().resolve("repository").toUri().toString() : repository.getUri().trim();
        if (uri.startsWith("s3://") && !none && masterKeyFile == null) {
            throw new IllegalArgumentException("an s3:// repository needs tidemark.master-key-file (create one with 'tidemark key generate "
                    + "FILE'), or tidemark.encryption: none said explicitly");
        }
        Path keyFile = masterKeyFile != null ? masterKeyFile : dataDirectory.toAbsolutePath().resolve("master.key");
        return new EngineConfig(dataDirectory.toAbsolutePath(), blank(catalog.getJdbcUrl()), catalog.getUser(), catalog.getPassword(),
                new EngineConfig.RepositoryConfig(uri, blank(repository.getEndpoint()), blank(repository.getRegion()),
                        blank(repository.getAccessKey()), repository.getSecretKey(), repository.getMaxParts()),
                none ? null : keyFile, none, compression, compressionLevel, blank(kafka.getBootstrapServers()), kafka.getTopic(),
                pgBinDirectory, Map.copyOf(pgPasswords), workers, walPartialInterval, scheduler.isEnabled(), nodeId,
                restoreRoots.stream().map(Path::toAbsolutePath).toList()).withRecoverOnStart(catalog.isRecoverOnStart())
                .withFleetLimits(walBufferMemory == null ? 0 : walBufferMemory.toBytes(), maxConcurrentJobs)
                .withMasterKeys(none ? null : keyFile, previousMasterKeyFiles.stream().map(Path::toAbsolutePath).toList());
    }

    /**
     * A value that is still a ${VARIABLE} names an environment variable that is not set: said at start, instead of
     * surfacing later as an authentication failure with the placeholder as the secret.
     */
    private static void unresolved(String key, String value) {
        if (value != null && value.contains("${")) {
            String variable = value.substring(value.indexOf("${") + 2, value.indexOf('}', value.indexOf("${")) < 0 ? value.length()
                    : value.indexOf('}', value.indexOf("${")));
            throw new IllegalArgumentException(key + " names the variable " + variable.replaceAll(":.*", "")
                    + ", which is not set in the engine's environment: set it, or give the value in the configuration");
        }
    }

    private static String blank(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }

    public DataSize getWalBufferMemory() { return walBufferMemory; }
    public void setWalBufferMemory(DataSize v) { walBufferMemory = v; }
    public int getMaxConcurrentJobs() { return maxConcurrentJobs; }
    public void setMaxConcurrentJobs(int v) { maxConcurrentJobs = v; }
    public List<Path> getRestoreRoots() { return restoreRoots; }
    public void setRestoreRoots(List<Path> v) { restoreRoots = v == null ? new ArrayList<>() : v; }
    public Path getDataDirectory() { return dataDirectory; }
    public void setDataDirectory(Path v) { dataDirectory = v; }
    public Catalog getCatalog() { return catalog; }
    public void setCatalog(Catalog v) { catalog = v; }
    public Repository getRepository() { return repository; }
    public void setRepository(Repository v) { repository = v; }
    public List<Path> getPreviousMasterKeyFiles() { return previousMasterKeyFiles; }
    public void setPreviousMasterKeyFiles(List<Path> v) { previousMasterKeyFiles = v == null ? new ArrayList<>() : v; }
    public Path getMasterKeyFile() { return masterKeyFile; }
    public void setMasterKeyFile(Path v) { masterKeyFile = v; }
    public String getEncryption() { return encryption; }
    public void setEncryption(String v) { encryption = v; }
    public String getCompression() { return compression; }
    public void setCompression(String v) { compression = v; }
    public int getCompressionLevel() { return compressionLevel; }
    public void setCompressionLevel(int v) { compressionLevel = v; }
    public Kafka getKafka() { return kafka; }
    public void setKafka(Kafka v) { kafka = v; }
    public Path getPgBinDirectory() { return pgBinDirectory; }
    public void setPgBinDirectory(Path v) { pgBinDirectory = v; }
    public Map<String, String> getPgPasswords() { return pgPasswords; }
    public void setPgPasswords(Map<String, String> v) { pgPasswords = v; }
    public int getWorkers() { return workers; }
    public void setWorkers(int v) { workers = v; }
    public Duration getWalPartialInterval() { return walPartialInterval; }
    public void setWalPartialInterval(Duration v) { walPartialInterval = v; }
    public Scheduler getScheduler() { return scheduler; }
    public void setScheduler(Scheduler v) { scheduler = v; }
    public String getNodeId() { return nodeId; }
    public void setNodeId(String v) { nodeId = v; }
    public List<String> getAllowedHosts() { return allowedHosts; }
    public void setAllowedHosts(List<String> v) { allowedHosts = v; }
    public List<Token> getTokens() { return tokens; }
    public void setTokens(List<Token> v) { tokens = v; }
}
