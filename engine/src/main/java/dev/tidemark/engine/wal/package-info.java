/**
 * WAL streaming: one stream per protected database, from its replication slot into the repository, and its lifecycle
 * (start, resume from what the catalog recorded, retry, follow timelines, stop); a backlog is caught up from the
 * primary's own pg_wal when its data directory is readable here. {@link dev.tidemark.engine.wal.WalStreamer} tells the
 * story of a stream; its parts sit beside it. {@link dev.tidemark.engine.wal.WalRecorder} turns what a stream reports into
 * the catalog's WAL batches.
 * <p>
 * May use: the catalog's commands (through the listener the engine gives a stream), {@code postgres} (connections, LSNs,
 * segment names, the data directory identity, and ServerQueries for every statement and replication command but the
 * START_REPLICATION that {@link dev.tidemark.engine.wal.HistoricStream} sends through pgjdbc's copy API) and
 * {@code storage} (the repository and its codecs). Nothing here knows another capability.
 */
package dev.tidemark.engine.wal;
