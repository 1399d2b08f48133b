package dev.tidemark.engine.operations;

import java.time.Instant;

/** A protected database as the API shows it. status: active, deregistered, chain-changed. */
public record DatabaseView(String id, String pgUrl, String pgdata, String standbyUrl, String status, Instant registeredAt,
                           PolicyView policy, WindowView window, StreamingView streaming, BackupView lastBaseBackup,
                           DumpView lastDump, ServerStats stats) {
}
