package dev.tidemark.engine.operations;

import java.time.Instant;

/**
 * A protected database as the API shows it. status: active, deregistered, chain-changed. configuration: where the server
 * base backups read (the standby, with one) keeps its configuration, as found now (inside the data directory, or which
 * files outside it and whether Debian's pg_ctlcluster runs it); like stats, only in the view of one database.
 */
public record DatabaseView(String id, String pgUrl, String pgdata, String standbyUrl, String status, Instant registeredAt,
                           PolicyView policy, WindowView window, StreamingView streaming, BackupView lastBaseBackup,
                           DumpView lastDump, ServerStats stats, String configuration) {
}
