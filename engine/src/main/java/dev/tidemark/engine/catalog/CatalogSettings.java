package dev.tidemark.engine.catalog;

import java.nio.file.Path;
import java.time.Clock;

/**
 * Where the catalog lives and whom it tells. The password is never printed.
 *
 * @param embeddedDirectory the embedded (H2) catalog's directory, used when jdbcUrl is null
 * @param jdbcUrl           a jdbc:postgresql:// URL of a shared catalog, or null
 * @param kafkaBootstrap    Kafka bootstrap servers, or null for no publication
 */
public record CatalogSettings(Path embeddedDirectory, String jdbcUrl, String user, String password, String kafkaBootstrap,
                              String kafkaTopic, Clock clock) {
    @Override
    public String toString() {
        return "CatalogSettings[" + (jdbcUrl == null ? "embedded " + embeddedDirectory : jdbcUrl) + ", kafka=" + kafkaBootstrap + "]";
    }
}
