package dev.tidemark.engine.catalog.api;

import java.time.DayOfWeek;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.time.temporal.TemporalAdjusters;
import java.util.Locale;

/**
 * The policy's schedules, in UTC: weekly ("SUN 03:00") for base backups, daily ("01:00") for dumps. A job is due when
 * no run of it was asked for since the latest scheduled moment, so a run missed while the engine was down happens at
 * the next start.
 */
public final class Schedules {
    private Schedules() {
    }

    /** The latest moment at or before now of a weekly schedule "DAY HH:MM" (MON..SUN). */
    public static Instant lastWeekly(String spec, Instant now) {
        String[] parts = spec.trim().split("\\s+");
        if (parts.length != 2) {
            throw new IllegalArgumentException("weekly schedule '" + spec + "' must be a day and a UTC time, e.g. 'SUN 03:00'");
        }
        DayOfWeek day = day(parts[0], spec);
        LocalTime time = time(parts[1], spec);
        ZonedDateTime at = now.atZone(ZoneOffset.UTC).with(TemporalAdjusters.previousOrSame(day)).with(time);
        if (at.toInstant().isAfter(now)) {
            at = at.minusWeeks(1);
        }
        return at.toInstant();
    }

    /** The latest moment at or before now of a daily schedule "HH:MM". */
    public static Instant lastDaily(String spec, Instant now) {
        LocalTime time = time(spec.trim(), spec);
        ZonedDateTime at = now.atZone(ZoneOffset.UTC).with(time);
        if (at.toInstant().isAfter(now)) {
            at = at.minusDays(1);
        }
        return at.toInstant();
    }

    /** A weekly schedule as it is stored and shown: "TUE 03:00" for "tue 3:00" or "Tuesday  03:00". */
    public static String canonicalWeekly(String spec) {
        String[] parts = spec.trim().split("\\s+");
        if (parts.length != 2) {
            throw new IllegalArgumentException("weekly schedule '" + spec + "' must be a day and a UTC time, e.g. 'SUN 03:00'");
        }
        return day(parts[0], spec).getDisplayName(TextStyle.SHORT, Locale.ENGLISH).toUpperCase(Locale.ROOT) + " "
                + time(parts[1], spec).toString();
    }

    /** A daily schedule as it is stored and shown: "03:00" for "3:00". */
    public static String canonicalDaily(String spec) {
        return time(spec.trim(), spec).toString();
    }

    /** True when nothing was asked for since the latest scheduled moment. */
    public static boolean due(Instant lastScheduledMoment, Instant lastRequested) {
        return lastRequested == null || lastRequested.isBefore(lastScheduledMoment);
    }

    private static DayOfWeek day(String text, String spec) {
        for (DayOfWeek d : DayOfWeek.values()) {
            String shortName = d.getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            if (text.equalsIgnoreCase(shortName) || text.equalsIgnoreCase(d.name())) {
                return d;
            }
        }
        throw new IllegalArgumentException("weekly schedule '" + spec + "': '" + text + "' is not a day (MON, TUE, ... SUN)");
    }

    private static LocalTime time(String text, String spec) {
        if (!text.matches("([01]?\\d|2[0-3]):[0-5]\\d")) {
            throw new IllegalArgumentException("schedule '" + spec + "': '" + text + "' is not a UTC time HH:MM (00:00 to 23:59)");
        }
        String[] hm = text.split(":");
        return LocalTime.of(Integer.parseInt(hm[0]), Integer.parseInt(hm[1]));
    }
}
