/**
 * Logical dumps and dump restores: the requests (checked against the server), the jobs (pg_dump, pg_restore), the
 * runner, downloads and views. May use node, catalog, postgres (its questions to the server are in ServerQueries),
 * operations, storage and basebackup (progress).
 */
package dev.tidemark.engine.dump;
