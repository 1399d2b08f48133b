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
 * @param synchronous        WAL is made durable as soon as it arrives and reported flushed right after, under the
 *                           application name {@link #applicationName()}, which synchronous_standby_names may list
 * @param stallWarning       in synchronous mode, how long WAL may wait to become durable before the stall is reported
 */
public record WalStreamSettings(String slotName, Duration partialInterval, Duration sampleInterval,
                                long retainedWarnBytes, Duration maxBackoff, boolean synchronous, Duration stallWarning) {
    /** The application name of an asynchronous stream: one no synchronous_standby_names entry should name. */
    public static final String ASYNCHRONOUS_APPLICATION_NAME = "tidemark-wal";
    /** A synchronous stream's reconnects stay short: the server's commits wait meanwhile. */
    private static final Duration SYNCHRONOUS_MAX_BACKOFF = Duration.ofSeconds(2);

    public WalStreamSettings {
        if (slotName == null || !slotName.matches("[a-z0-9_]{1,63}")) {
            throw new IllegalArgumentException("invalid replication slot name '" + slotName
                    + "': use lower-case letters, digits and '_' (at most 63)");
        }
    }

    public static WalStreamSettings defaults(String databaseId) {
        return new WalStreamSettings(synchronousName(databaseId), Duration.ofSeconds(2), Duration.ofSeconds(1), 8L << 30,
                Duration.ofSeconds(30), false, Duration.ofSeconds(10));
    }

    /**
     * The name a database's stream has: its replication slot's, and in synchronous mode its application name, the one to
     * list in synchronous_standby_names: "tidemark_" and the id in lower case, each character other than a letter, a digit
     * or '_' as '_', at most 63 characters.
     */
    public static String synchronousName(String databaseId) {
        String name = "tidemark_" + databaseId.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9_]", "_");
        return name.length() > 63 ? name.substring(0, 63) : name;
    }

    /** The application name the replication connection gives the server. */
    public String applicationName() {
        return synchronous ? slotName : ASYNCHRONOUS_APPLICATION_NAME;
    }

    /** The longest pause between reconnect attempts in this mode. */
    public Duration backoffCap() {
        return synchronous && maxBackoff.compareTo(SYNCHRONOUS_MAX_BACKOFF) > 0 ? SYNCHRONOUS_MAX_BACKOFF : maxBackoff;
    }

    public WalStreamSettings withPartialInterval(Duration interval) {
        return new WalStreamSettings(slotName, interval, sampleInterval, retainedWarnBytes, maxBackoff, synchronous, stallWarning);
    }

    /** These settings in synchronous mode (on) or asynchronous mode, a stall reported after stallAfter. */
    public WalStreamSettings withSynchronous(boolean on, Duration stallAfter) {
        return new WalStreamSettings(slotName, partialInterval, sampleInterval, retainedWarnBytes, maxBackoff, on, stallAfter);
    }
}
