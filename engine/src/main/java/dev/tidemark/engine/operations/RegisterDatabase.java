package dev.tidemark.engine.operations;

import java.time.Duration;

/**
 * A database to protect.
 *
 * @param id          [a-z0-9][a-z0-9-]{0,62}
 * @param pgUrl       postgresql://USER@HOST:PORT/DB of the primary, without a password
 * @param pgdata      the primary's data directory on this host (read by base backups, replaced by in-place restores)
 * @param standbyUrl  optional standby to take base backups and dumps from
 * @param window      recovery window; null for the default (7 days)
 */
public record RegisterDatabase(String id, String pgUrl, String pgdata, String standbyUrl, Duration window) {
}
