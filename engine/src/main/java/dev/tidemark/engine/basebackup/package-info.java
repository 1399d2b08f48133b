/**
 * Base backups: the request, the job that takes one on the owning node, the runner and its parts (data directory scan,
 * page checksums, manifest), downloads as a tar, the views, and the warm-up of the codec and checksums after start. Reaches the WAL stream through {@link
 * dev.tidemark.engine.basebackup.StreamedWal}, which the wal package implements. May use node, catalog, postgres
 * (pg_backup_start/stop and the server's settings are ServerQueries), operations and storage. Exposes its requests, views, manifest, progress and workers to the other capabilities.
 */
package dev.tidemark.engine.basebackup;
