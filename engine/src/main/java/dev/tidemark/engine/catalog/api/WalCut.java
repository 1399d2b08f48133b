package dev.tidemark.engine.catalog.api;

/** WAL of a chain that retention removed: every segment numbered below beforeSegment (all of the chain when null). */
public record WalCut(String chain, Long beforeSegment) {
}
