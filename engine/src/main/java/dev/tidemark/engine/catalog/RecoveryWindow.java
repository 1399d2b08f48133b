package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.DatabaseHistory.WalRange;
import dev.tidemark.engine.catalog.api.Commands.LiveWal;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The recovery window: every second in [start, end] can be restored. start is the consistency time of the oldest kept
 * base backup from which the WAL runs without a gap to the end, but not before now minus the policy's window; end is the
 * newest server time whose WAL is durable (recorded segments, extended by the live stream's partial segment). A gap in
 * the WAL ends the stretch at the gap. Computed from the catalog's state alone.
 *
 * @param usable the backups of the final stretch, oldest first, each with the end its WAL reaches
 */
public record RecoveryWindow(Instant start, Instant end, List<Usable> usable, String note, List<Gap> gaps) {

    public RecoveryWindow(Instant start, Instant end, List<Usable> usable, String note) {
        this(start, end, usable, note, List.of());
    }

    /**
     * Moments inside [start, end] that cannot be restored: the history an in-place restore rolled back, strictly after
     * its target and before it completed. Recovery follows the newest timeline, which has nothing of that history.
     */
    public record Gap(Instant after, Instant before, String restoreId) {
        boolean holds(Instant time) {
            return time.isAfter(after) && time.isBefore(before);
        }
    }

    /** A completed base backup and the newest server time its contiguous WAL reaches. */
    public record Usable(BaseBackup backup, Instant walEnd) {
    }

    public boolean isEmpty() {
        return start == null;
    }

    public boolean contains(Instant time) {
        return !isEmpty() && !time.isBefore(start) && !time.isAfter(end) && gaps.stream().noneMatch(g -> g.holds(time));
    }

    /** "[2026-11-17T03:12:00Z, 2026-11-24T10:41:07Z]" or a sentence when empty. */
    public String describe() {
        if (isEmpty()) {
            return "empty (" + note + ")";
        }
        // to the microsecond (as PostgreSQL keeps time), each bound rounded inwards: a time shown inside is restorable
        StringBuilder text = new StringBuilder("[" + formatUp(start) + ", " + format(end) + "]");
        for (Gap g : gaps) {
            text.append(" except (").append(format(g.after())).append(", ").append(formatUp(g.before()))
                    .append("), rolled back by in-place restore ").append(g.restoreId());
        }
        return text.toString();
    }

    /** An instant as ISO-8601, with its fraction of a second when it has one (a bound is exact, not rounded). */
    static String format(Instant t) {
        return DateTimeFormatter.ISO_INSTANT.format(t.truncatedTo(ChronoUnit.MICROS));
    }

    /** As {@link #format}, a fraction below the microsecond rounded up (for a bound whose restorable side is above it). */
    static String formatUp(Instant t) {
        Instant micros = t.truncatedTo(ChronoUnit.MICROS);
        return DateTimeFormatter.ISO_INSTANT.format(micros.isBefore(t) ? micros.plus(1, ChronoUnit.MICROS) : micros);
    }

    public static RecoveryWindow of(DatabaseHistory history, Instant now, LiveWal live) {
        List<Gap> rolledBack = new ArrayList<>();
        for (DatabaseHistory.Restore r : history.restores()) {
            if (r.inPlace() && r.status() == JobStatus.COMPLETED && r.targetTime() != null && !r.latest() && r.completedAt() != null
                    && r.targetTime().isBefore(r.completedAt())) {
                rolledBack.add(new Gap(r.targetTime(), r.completedAt(), r.id()));
            }
        }
        List<Usable> usable = new ArrayList<>();
        for (BaseBackup b : history.baseBackups()) {
            if (b.status() != JobStatus.COMPLETED || b.startSegment() == null) {
                continue;
            }
            if (rolledBack.stream().anyMatch(g -> g.holds(b.consistencyTime()))) {
                continue; // taken of the history an in-place restore rolled back: the newest timeline does not continue it
            }
            walEnd(history, b, live).filter(end -> !end.isBefore(b.consistencyTime())).ifPresent(end -> usable.add(new Usable(b, end)));
        }
        if (usable.isEmpty()) {
            boolean any = history.baseBackups().stream().anyMatch(b -> b.status() == JobStatus.COMPLETED);
            return new RecoveryWindow(null, null, List.of(), any
                    ? "no completed base backup has continuous WAL after it; take a new base backup"
                    : "no base backup has completed yet");
        }
        Instant end = usable.stream().map(Usable::walEnd).max(Comparator.naturalOrder()).orElseThrow();
        List<Usable> stretch = usable.stream().filter(u -> u.walEnd().equals(end))
                .sorted(Comparator.comparing(u -> u.backup().consistencyTime())).toList();
        Instant oldest = stretch.get(0).backup().consistencyTime();
        Instant floor = history.policy() == null ? oldest : now.minus(history.policy().window());
        Instant start = oldest.isBefore(floor) ? floor : oldest;
        if (start.isAfter(end)) {
            start = end;
        }
        Instant from = start;
        List<Gap> gaps = rolledBack.stream().filter(g -> g.before().isAfter(from) && g.after().isBefore(end)).toList();
        return new RecoveryWindow(start, end, stretch, null, gaps);
    }

    /**
     * The newest server time the WAL from the backup's start segment reaches without a gap. Where a newer timeline
     * follows, its parent counts only up to the segment where the newer one began: recovery follows the newest timeline,
     * so what the parent holds beyond that (WAL the old primary wrote after the fork) neither fills a gap of the newer
     * timeline nor dates the window.
     */
    static Optional<Instant> walEnd(DatabaseHistory history, BaseBackup b, LiveWal live) {
        long start = b.startSegmentNumber();
        long coveredUntil = start - 1;
        int timeline = b.timeline();
        Instant end = null;
        List<WalRange> counted = new ArrayList<>();
        for (WalRange r : history.wal()) {
            if (!r.chain().equals(b.chain()) || r.timeline() < timeline) {
                continue;
            }
            if (r.timeline() > timeline) {
                Optional<Lsn> fork = history.timelineStart(r.chain(), r.timeline());
                if (fork.isPresent() && b.startLsn() != null && Lsn.parse(b.startLsn()).compareTo(fork.get()) >= 0) {
                    return Optional.empty(); // taken after the fork on the parent's branch: recovery follows the newer one
                }
                long begin = fork.map(f -> f.value() / DatabaseHistory.SEGMENT_SIZE).orElse(r.first());
                if (begin > coveredUntil + 1 || begin < start) {
                    break; // the parent does not reach the fork, or the backup was taken after it on the parent's branch
                }
                if (coveredUntil >= begin) {
                    coveredUntil = begin - 1;
                    end = endBefore(counted, begin);
                }
                if (r.first() > begin) {
                    break; // the newer timeline's first segments are missing
                }
                timeline = r.timeline();
            } else if (r.last() <= coveredUntil) {
                continue;
            }
            if (r.first() > coveredUntil + 1) {
                break;
            }
            coveredUntil = r.last();
            counted.add(r);
            end = end == null || r.lastTime().isAfter(end) ? r.lastTime() : end;
        }
        if (live != null && live.chain().equals(b.chain()) && live.timeline() >= timeline && live.time() != null) {
            // the stream on a newer timeline than the recorded WAL reaches: the parent counts up to the fork only
            OptionalLong begin = live.timeline() > timeline ? history.timelineBeginSegment(live.chain(), live.timeline())
                    : OptionalLong.empty();
            if (begin.isPresent() && coveredUntil >= begin.getAsLong()) {
                coveredUntil = begin.getAsLong() - 1;
                end = endBefore(counted, begin.getAsLong());
            }
            long liveSegment = WalSegment.containing(live.timeline(), Lsn.parse(live.lsn()), DatabaseHistory.SEGMENT_SIZE).number();
            long fromSegment = live.contiguousFrom() == null ? liveSegment
                    : WalSegment.containing(live.timeline(), Lsn.parse(live.contiguousFrom()), DatabaseHistory.SEGMENT_SIZE).number();
            boolean continues = Math.min(liveSegment, fromSegment) <= coveredUntil + 1;
            if (continues && liveSegment >= start && (end == null || live.time().isAfter(end))) {
                end = live.time();
            }
        }
        return Optional.ofNullable(end);
    }

    /** The newest time the counted ranges are known to reach below segment begin (a range across it: its first time). */
    private static Instant endBefore(List<WalRange> counted, long begin) {
        Instant end = null;
        for (WalRange c : counted) {
            Instant reached = c.last() < begin ? c.lastTime() : c.first() < begin ? c.firstTime() : null;
            end = reached != null && (end == null || reached.isAfter(end)) ? reached : end;
        }
        return end;
    }
}
