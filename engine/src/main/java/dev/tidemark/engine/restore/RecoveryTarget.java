package dev.tidemark.engine.restore;

import dev.tidemark.engine.catalog.DatabaseHistory;

import java.time.Instant;
import java.util.Optional;

/** Where a point-in-time restore stops: at a time, or at the latest moment the repository holds. */
public sealed interface RecoveryTarget {

    /** The time asked for; empty for the latest. */
    Optional<Instant> time();

    record Time(Instant at) implements RecoveryTarget {
        @Override
        public Optional<Instant> time() {
            return Optional.of(at);
        }

        @Override
        public String toString() {
            return at.toString();
        }
    }

    record Latest() implements RecoveryTarget {
        @Override
        public Optional<Instant> time() {
            return Optional.empty();
        }

        @Override
        public String toString() {
            return "latest";
        }
    }

    /** The target a recorded restore was asked for. */
    static RecoveryTarget of(DatabaseHistory.Restore r) {
        return r.latest() ? new Latest() : new Time(r.targetTime());
    }
}
