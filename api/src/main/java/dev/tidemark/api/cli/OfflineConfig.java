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
        quietLogging();
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

    /**
     * The engine's steps, one line each, as tidemark serve logs them (application.yml): other libraries only when they
     * warn, and not Axon's notice about its in-memory token store, which the catalog uses on purpose.
     */
    private static void quietLogging() {
        if (org.slf4j.LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext context) {
            // on standard error, in serve's format: standard output is the command's result
            ch.qos.logback.classic.encoder.PatternLayoutEncoder encoder = new ch.qos.logback.classic.encoder.PatternLayoutEncoder();
            encoder.setContext(context);
            encoder.setPattern("%d{yyyy-MM-dd HH:mm:ss.SSS} %5p %-24.24logger{0} %m%n");
            encoder.start();
            ch.qos.logback.core.ConsoleAppender<ch.qos.logback.classic.spi.ILoggingEvent> stderr = new ch.qos.logback.core.ConsoleAppender<>();
            stderr.setContext(context);
            stderr.setTarget("System.err");
            stderr.setEncoder(encoder);
            stderr.start();
            ch.qos.logback.classic.Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
            root.detachAndStopAllAppenders();
            root.addAppender(stderr);
            root.setLevel(ch.qos.logback.classic.Level.WARN);
            context.getLogger("dev.tidemark").setLevel(ch.qos.logback.classic.Level.INFO);
            context.getLogger("org.axonframework.eventhandling.tokenstore.inmemory.InMemoryTokenStore")
                    .setLevel(ch.qos.logback.classic.Level.ERROR);
        }
    }
}
