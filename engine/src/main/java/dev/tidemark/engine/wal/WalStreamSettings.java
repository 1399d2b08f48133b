package dev.tidemark.engine.wal;

import java.time.Duration;

/**
 * How one database's WAL is streamed.
 *
 * @param slotName           the physical replication slot that holds WAL on the server until it is durable here
 * @param partialInterval    how often the segment being written is uploaded as a partial segment
 * @param sampleInterval     how often the server's clock and WAL position are sampled (maps time to LSN)
 * @param retainedWarnBytes  warn when the slot holds more WAL than this on the server
 * @param maxBackoff         the longest pause between reconnect attempts
 */
public record WalStreamSettings(String slotName, Duration partialInterval, Duration sampleInterval,
                                long retainedWarnBytes, Duration maxBackoff) {

    public WalStreamSettings {
        if (slotName == null || !slotName.matches("[a-z0-9_]{1,63}")) {
            throw new IllegalArgumentException("invalid replication slot name '" + slotName
                    + "': use lower-case letters, digits and '_' (at most 63)");
        }
    }

    public static WalStreamSettings defaults(String databaseId) {
        return new WalStreamSettings("tidemark_" + databaseId.replace('-', '_'), Duration.ofSeconds(5),
                Duration.ofSeconds(1), 8L << 30, Duration.ofSeconds(30));
    }

    public WalStreamSettings withPartialInterval(Duration interval) {
        return new WalStreamSettings(slotName, interval, sampleInterval, retainedWarnBytes, maxBackoff);
    }
}
