package dev.tidemark.engine.node;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** Ids of backups, dumps and restores: the kind, the UTC time asked and a random suffix ("base-20261124-104107-3fa"). */
public final class Ids {
    private static final DateTimeFormatter ID_STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'-'HHmmss").withZone(ZoneOffset.UTC);

    private Ids() {
    }

    public static String newId(String kind, Instant now) {
        return kind + "-" + ID_STAMP.format(now) + "-" + Integer.toHexString((int) (Math.random() * 0xfff) + 0x1000).substring(1);
    }
}
