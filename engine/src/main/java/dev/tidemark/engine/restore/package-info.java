/**
 * Restore: a base backup written back as a data directory and the archived WAL replayed to a target time (or the end
 * of the archive), beside the source or in place. {@link dev.tidemark.engine.restore.RestoreRunner#run} reads as the
 * whole restore over its phases: TargetCheck (with RestoreTarget's rules) and TargetClaim, InPlace, Tablespaces,
 * DataDirectoryWriter, ExternalConfig (configuration from outside the data directory), WalToReplay (WalSpool, WalScan),
 * RecoverySettings, Recovery (RecoveryLog), Handover (how the server is left), CreatedPaths.
 * <p>
 * It may use the repository ({@code dev.tidemark.storage}), the backup's facts and progress
 * ({@code dev.tidemark.engine.basebackup}: BackupManifest, BackupProgress, DataDirectoryScan, Workers) and the server
 * handles and values of {@code dev.tidemark.engine.postgres}; it knows nothing of the catalog, the jobs or other
 * capabilities. The only SQL it sends, to the restored copy it started, is in Recovery.
 */
package dev.tidemark.engine.restore;
