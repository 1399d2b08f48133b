/**
 * Catalog recovery: an engine whose catalog is empty (its host or data directory lost) on a repository that holds
 * databases rebuilds the catalog from the repository instead of starting silently empty. From the mirrored events
 * ({@code catalog.mirror}) where they are whole; what could not be recovered is said by name. A repository of another
 * installation, or one holding a database's objects twice, is refused with nothing changed ({@code Installation}).
 * <p>
 * May use: the catalog (its import of events), {@code catalog.mirror} and {@code storage}. Knows no capability.
 */
package dev.tidemark.engine.recovery;
