package dev.tidemark.engine.operations;

/** What a platform dashboard shows of the server; fields are null when the server could not be asked (see error). */
public record ServerStats(String serverVersion, Integer openConnections, Integer maxConnections, Long logicalBytes,
                          Long diskBytes, String error) {
}
