package dev.tidemark.engine.config;

import java.time.Duration;

/** The engine's JVM options (-Dtidemark....) that take a number of seconds: read at start, a bad value refused by name. */
public final class JvmOption {
    private JvmOption() {
    }

    /**
     * The option's value in seconds, or byDefault when it is not set; a value that is not a whole number, or below atLeast,
     * is refused with what to give instead (silently taking the default, or 0, would change how the engine fences).
     */
    public static Duration seconds(String property, long byDefault, long atLeast) {
        String value = System.getProperty(property);
        if (value == null || value.isBlank()) {
            return Duration.ofSeconds(byDefault);
        }
        long seconds;
        try {
            seconds = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            seconds = Long.MIN_VALUE;
        }
        if (seconds < atLeast) {
            throw new IllegalArgumentException("-D" + property + "=" + value + " is not a number of seconds the engine can use: give a"
                    + " whole number of at least " + atLeast + " (" + byDefault + " by default), the same on every engine of the"
                    + " repository, or leave it out");
        }
        return Duration.ofSeconds(seconds);
    }
}
