package dev.tidemark.engine.operations;

/**
 * A change of where a protected database is reached; null leaves a part as it is.
 *
 * @param pgUrl      postgresql://USER@HOST:PORT/DB of the primary (after a failover: the promoted standby)
 * @param pgdata     the data directory base backups read (the standby's when there is one)
 * @param standbyUrl the standby to take base backups and dumps from; "" for none
 */
public record ConnectionChange(String pgUrl, String pgdata, String standbyUrl) {
}
