/**
 * Retention: {@link dev.tidemark.engine.retention.Retention}, the pure function of what expires at an instant, and the
 * expiry that records it and deletes the objects. May use node, catalog, postgres and storage.
 */
package dev.tidemark.engine.retention;
