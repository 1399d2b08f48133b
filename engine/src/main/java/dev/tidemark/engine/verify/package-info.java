/**
 * Verification: reads every object a database's recovery window needs, whole (each base backup's manifest and every
 * file's checksum, every WAL segment from the oldest kept base backup's start to the window's end, every dump archive),
 * and says by name what is missing or damaged and what part of the window that costs.
 * <p>
 * May use: the catalog (the history), {@code basebackup.BackupManifest}, the node's workers count, {@code storage}.
 */
package dev.tidemark.engine.verify;
