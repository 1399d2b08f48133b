package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.api.Commands.LiveWal;

import java.time.Instant;
import java.util.Comparator;

/** Which base backup and WAL serve a restore target: the newest backup consistent at or before it whose WAL reaches it. */
public record RestorePlan(BaseBackup backup, Instant target, boolean latest, RecoveryWindow window) {

    /** targetTime null means latest; throws {@link CatalogRejection} (INVALID) with the window when the target cannot be served. */
    public static RestorePlan plan(DatabaseHistory history, Instant targetTime, Instant now, LiveWal live) {
        RecoveryWindow window = RecoveryWindow.of(history, now, live);
        if (window.isEmpty()) {
            throw CatalogRejection.invalid("database " + history.id() + " has nothing to restore yet: the recovery window is "
                    + window.describe());
        }
        if (targetTime != null && targetTime.isAfter(now)) {
            throw CatalogRejection.invalid("restore target " + RecoveryWindow.format(targetTime) + " is in the future; the recovery window is "
                    + window.describe());
        }
        Instant target = targetTime == null ? window.end() : targetTime;
        if (!window.contains(target)) {
            throw CatalogRejection.invalid("restore target " + RecoveryWindow.format(target) + " is outside the recovery window "
                    + window.describe() + " of database " + history.id() + "; pick a time inside it");
        }
        BaseBackup backup = window.usable().stream()
                .filter(u -> !u.backup().consistencyTime().isAfter(target) && !u.walEnd().isBefore(target))
                .map(RecoveryWindow.Usable::backup)
                .max(Comparator.comparing(BaseBackup::consistencyTime))
                .orElseGet(() -> window.usable().get(0).backup());
        return new RestorePlan(backup, target, targetTime == null, window);
    }
}
