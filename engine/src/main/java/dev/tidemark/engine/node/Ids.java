package dev.tidemark.engine.node;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * Ids of backups, dumps and restores: the kind, the UTC time asked and a random suffix ("base-20261124-104107-3fa9c1").
 * Six hex digits: with three, two dumps asked within one second took the same id once in 4,095 (a suite run met it:
 * the second request was refused as "dump id ... is taken").
 */
public final class Ids {
    private static final DateTimeFormatter ID_STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'-'HHmmss").withZone(ZoneOffset.UTC);

    private Ids() {
    }

    public static String newId(String kind, Instant now) {
        return kind + "-" + ID_STAMP.format(now) + "-" + Integer.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextInt(0x1000000)
                + 0x1000000).substring(1);
    }
}
