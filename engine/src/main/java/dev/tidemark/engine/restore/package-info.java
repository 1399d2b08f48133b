/**
 * Point-in-time restores: the request (checked once here: shape, overlap guard, window plan, the runner's checks), the
 * job, cancel, the views and the recovery window, and {@link dev.tidemark.engine.restore.RestoreRunner}, whose
 * {@code run} reads as the whole restore over its phases: TargetCheck (with RestoreTarget's rules) and TargetClaim,
 * InPlace (or DeltaInPlace, in place without a copy), Tablespaces, DataDirectoryWriter, ExternalConfig (configuration from outside the data directory), WalToReplay
 * (WalSpool, WalScan), RecoverySettings, Recovery (RecoveryLog), Handover (how the server is left), CreatedPaths. A
 * target is a {@link dev.tidemark.engine.restore.RecoveryTarget}.
 * <p>
 * May use node, catalog, postgres, operations, storage, basebackup (manifest, workers, progress) and wal (Streams).
 * The runner and its phases know nothing of the catalog or the jobs; the only statements they send, to the restored
 * copy they started, are Recovery's, through postgres/ServerQueries (as are OverlapGuard's questions to the protected
 * servers).
 */
package dev.tidemark.engine.restore;
