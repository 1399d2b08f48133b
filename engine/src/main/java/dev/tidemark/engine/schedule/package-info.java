/**
 * The scheduler: the recurring tick run on one node of a shared catalog (db-scheduler), what it asks for per policy
 * (weekly base backups, daily dumps, retention, the hourly WAL check) and the slot rules. The schedule arithmetic itself
 * is {@link dev.tidemark.engine.catalog.api.Schedules}, beside the policy the aggregate validates. May use node,
 * catalog, postgres (the checkpoint and tablespace question are ServerQueries) and the requests of basebackup, dump,
 * retention and wal (and restore.WalScan). The scheduler's own table (scheduled_tasks) is in the catalog database.
 */
package dev.tidemark.engine.schedule;
