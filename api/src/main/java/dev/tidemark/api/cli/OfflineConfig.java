package dev.tidemark.api.cli;

import dev.tidemark.api.server.TidemarkProperties;
import dev.tidemark.engine.config.EngineConfig;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The configuration of a command that works without the server (key rotate, catalog recover): the YAML tidemark serve
 * runs with, as a picocli mixin, so each such command reads and refuses it the same way.
 */
final class OfflineConfig {
    @Option(names = "--config", description = "the YAML configuration tidemark serve runs with (docs/configuration.md)")
    Path config;

    /** The engine configuration, or empty after saying on stderr what is wrong with it (the command exits 2, nothing done). */
    Optional<EngineConfig> load() {
        if (config != null && !Files.isReadable(config)) {
            System.err.println("error: configuration file " + config + " cannot be read");
            return Optional.empty();
        }
        try {
            return Optional.of(TidemarkProperties.load(config).toEngineConfig());
        } catch (Exception e) {
            System.err.println("error: the configuration cannot be used: " + e.getMessage());
            return Optional.empty();
        }
    }
}
