/**
 * Point-in-time restores: the request (checked once here: shape, overlap guard, window plan, the runner's checks), the
 * job, cancel, the views and the recovery window, and {@link dev.tidemark.engine.restore.RestoreRunner} with its phases.
 * A target is a {@link dev.tidemark.engine.restore.RecoveryTarget}. May use node, catalog, postgres, operations,
 * storage, basebackup (manifest, workers, progress) and wal (Streams).
 */
package dev.tidemark.engine.restore;
