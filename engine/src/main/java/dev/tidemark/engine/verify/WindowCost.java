package dev.tidemark.engine.verify;

import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.RecoveryWindow;

import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What a missing or damaged object costs the recovery window, as a sentence: pure, over the window the catalog computes
 * and what verification found. A backup is no use once damaged; a WAL segment's loss cuts every backup that starts
 * before it from the moment its WAL was written, until a backup that starts after it.
 *
 * @param damagedBackups the ids of the base backups found missing or damaged
 */
record WindowCost(RecoveryWindow window, List<BaseBackup> kept, Set<String> damagedBackups) {

    String ofBackup(BaseBackup lost) {
        if (window.isEmpty() || window.usable().stream().noneMatch(u -> u.backup().id().equals(lost.id()))) {
            return "no part of the window " + window.describe() + " is lost: it is not served by this base backup";
        }
        Optional<BaseBackup> oldest = window.usable().stream().map(RecoveryWindow.Usable::backup)
                .filter(b -> !damagedBackups.contains(b.id())).min(Comparator.comparing(BaseBackup::consistencyTime));
        if (oldest.isEmpty()) {
            return "no intact base backup is left: the whole window " + window.describe() + " is lost; take a new base backup";
        }
        BaseBackup y = oldest.get();
        if (y.consistencyTime().isAfter(window.start())) {
            return "restores before " + format(y.consistencyTime()) + " are lost (the window started " + format(window.start())
                    + "): restorable only from base backup " + y.id();
        }
        return "no part of the window is lost: base backup " + y.id() + " serves its restores, replaying more WAL";
    }

    /** lostFrom: about when the WAL of the segment began (the upload of the segment before it), null when unknown. */
    String ofWal(String chain, long segment, Instant lostFrom) {
        if (window.isEmpty()) {
            return "the window is empty already (" + window.describe() + ")";
        }
        Instant from = lostFrom == null || lostFrom.isBefore(window.start()) ? window.start() : lostFrom;
        Optional<BaseBackup> after = kept.stream()
                .filter(b -> chain.equals(b.chain()) && b.startSegment() != null && b.startSegmentNumber() > segment
                        && !damagedBackups.contains(b.id()))
                .min(Comparator.comparing(BaseBackup::consistencyTime));
        if (after.isPresent() && !after.get().consistencyTime().isAfter(from)) {
            return "no part of the window is lost: base backup " + after.get().id() + " starts after it";
        }
        if (after.isPresent()) {
            return "restores after " + format(from) + " and before " + format(after.get().consistencyTime())
                    + " are lost; from then on base backup " + after.get().id() + " serves them";
        }
        return "restores after " + format(from) + " are lost (the window ended " + format(window.end())
                + "); take a new base backup to start a window again";
    }

    static String format(Instant t) {
        return DateTimeFormatter.ISO_INSTANT.format(t.truncatedTo(ChronoUnit.SECONDS));
    }
}
