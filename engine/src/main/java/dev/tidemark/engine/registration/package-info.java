/**
 * Registration of a protected database: register, change of connection (after a failover, a move; another host needs
 * an admin), policy, deregistration (its slot dropped, its objects purged), the checks of servers and data directories,
 * and the view of a database. May use node, catalog, postgres (its statements to the server are in ServerQueries),
 * operations, and what wal, basebackup, dump and restore expose (Streams, their views, RestoreRunner.shellUnsafe).
 */
package dev.tidemark.engine.registration;
