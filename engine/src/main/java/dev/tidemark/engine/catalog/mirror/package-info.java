/**
 * The catalog's events in the repository: every event of every database written, in order and encrypted like every
 * other object, as batches under {@code db/{database}/events/}, by {@link dev.tidemark.engine.catalog.mirror.EventMirror}
 * (a tracking loop whose token lives in the catalog's token store), and read back by
 * {@link dev.tidemark.engine.catalog.mirror.EventObjects} when the catalog is recovered.
 * <p>
 * May use: Axon's event and token stores, the catalog's event types, and {@code storage}. Knows no capability.
 */
package dev.tidemark.engine.catalog.mirror;
