package dev.tidemark.engine.schedule;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.node.Jobs;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Predicate;

/** Which base backups and dumps count for their schedule slot: a pure rule over the jobs of one kind. */
final class SlotRules {
    private SlotRules() {
    }

    /** A base backup or dump, as far as the scheduler weighs it against its slot. */
    record SlotJob(JobStatus status, String trigger, String failure, Instant requestedAt) {
        static SlotJob of(DatabaseHistory.BaseBackup b) {
            return new SlotJob(b.status(), b.trigger(), b.failure(), b.requestedAt());
        }

        static SlotJob of(DatabaseHistory.Dump d) {
            return new SlotJob(d.status(), d.trigger(), d.failure(), d.requestedAt());
        }

        boolean interrupted() {
            return Jobs.INTERRUPTED.equals(failure);
        }
    }

    /**
     * Which of a database's jobs of one kind count for their schedule slot: one completed or running; a failed one the
     * scheduler asked for, for an hour (the scheduler retries hourly, not every check); never one failed that an operator
     * asked for, nor the first in an hour cut short by the engine's stop (nothing wrong with the database: asked again at
     * once; a second one may be what stops the engine, out of memory say, and waits the hour).
     */
    static Predicate<SlotJob> countsForSlot(List<SlotJob> jobs, Instant now) {
        Instant hourAgo = now.minus(Duration.ofHours(1));
        boolean retryInterrupted = jobs.stream()
                .filter(j -> !"manual".equals(j.trigger()) && j.interrupted() && j.requestedAt().isAfter(hourAgo)).count() <= 1;
        return j -> j.status() != JobStatus.FAILED
                || !"manual".equals(j.trigger()) && !(retryInterrupted && j.interrupted()) && j.requestedAt().isAfter(hourAgo);
    }
}
