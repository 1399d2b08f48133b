package dev.tidemark.engine.schedule;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BaseBackupRequest;
import dev.tidemark.engine.catalog.CatalogRejection;
import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.catalog.api.Schedules;
import dev.tidemark.engine.dump.DumpRequest;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.engine.restore.WalScan;
import dev.tidemark.engine.retention.Expiry;
import dev.tidemark.engine.schedule.SlotRules.SlotJob;
import dev.tidemark.engine.wal.ContinuityCheck;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/** What the scheduler does every tick: weekly base backups, daily dumps, retention and the hourly WAL check, per database policy. */
public final class ScheduledTick implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(ScheduledTick.class);
    private static final String SCHEDULER = "scheduler";

    private final Node node;
    private final BaseBackupRequest baseBackups;
    private final DumpRequest dumps;
    private final Expiry expiry;
    private final ContinuityCheck continuity;
    private final Map<String, Instant> continuityChecked = new ConcurrentHashMap<>();
    /** Per database, the weekly slot last found covered by a base backup asked for after it (said once per slot). */
    private final Map<String, Instant> slotCovered = new ConcurrentHashMap<>();
    /** Per completed base backup, read once from its manifest and its WAL window. */
    private final Map<String, BackupTablespaces> backupTablespaces = new ConcurrentHashMap<>();

    public ScheduledTick(Node node, BaseBackupRequest baseBackups, DumpRequest dumps, Expiry expiry, ContinuityCheck continuity) {
        this.node = node;
        this.baseBackups = baseBackups;
        this.dumps = dumps;
        this.expiry = expiry;
        this.continuity = continuity;
    }

    @Override
    public void run() {
        for (DatabaseHistory h : node.catalog().view().databases()) {
            if (!h.active()) {
                continue;
            }
            try {
                tick(h);
            } catch (RuntimeException e) {
                LOG.warn("scheduled jobs of {} failed: {}", h.id(), e.getMessage());
            }
        }
    }

    private void tick(DatabaseHistory h) {
        Instant now = node.clock().instant();
        Policy policy = h.policy();
        Instant weekly = Schedules.lastWeekly(policy.baseBackupSchedule(), now);
        Predicate<SlotJob> countsForWeekly = SlotRules.countsForSlot(h.baseBackups().stream().map(SlotJob::of).toList(), now);
        Predicate<DatabaseHistory.BaseBackup> counts = b -> countsForWeekly.test(SlotJob.of(b));
        boolean anyBackup = h.baseBackups().stream().anyMatch(counts);
        Instant lastBackup = h.baseBackups().stream().filter(counts)
                .map(DatabaseHistory.BaseBackup::requestedAt).max(Instant::compareTo).orElse(null);
        if (anyBackup && !Schedules.due(weekly, lastBackup) && !weekly.equals(slotCovered.put(h.id(), weekly))
                && lastBackup != null && lastBackup.isAfter(weekly)) {
            h.baseBackups().stream().filter(b -> b.requestedAt().equals(lastBackup)).findFirst()
                    .filter(b -> !"scheduled".equals(b.trigger()) && b.status() != JobStatus.FAILED)
                    .ifPresent(b -> LOG.info("scheduled base backup of {} for {} not asked for: base backup {} ({}) was asked for after"
                            + " that slot and counts for it", h.id(), weekly, b.id(), b.trigger()));
        }
        if ((!anyBackup || Schedules.due(weekly, lastBackup)) && h.runningBaseBackup().isEmpty()) {
            ask(() -> baseBackups.ask(h.id(), "scheduled", SCHEDULER), "base backup", h.id());
        } else if (h.runningBaseBackup().isEmpty() && restoredInPlaceWithoutBackup(h)) {
            ask(() -> baseBackups.ask(h.id(), "after-restore", SCHEDULER), "base backup (the first of the timeline an in-place"
                    + " restore left, now that the server accepts connections again)", h.id());
        } else if (h.runningBaseBackup().isEmpty()) {
            tablespaceNotInNewestBackup(h, now).ifPresent(why -> {
                // a backup read from a standby starts at its last restartpoint, which follows the primary's checkpoints:
                // one now, so the new backup starts after the CREATE TABLESPACE (best effort: it needs the privilege)
                try (Connection c = node.primary(h).open()) {
                    new ServerQueries(c).checkpoint();
                } catch (SQLException | IllegalArgumentException e) {
                    LOG.info("scheduled base backup of {}: no checkpoint on the primary first ({})", h.id(), e.getMessage());
                }
                ask(() -> baseBackups.ask(h.id(), "tablespace", SCHEDULER), "base backup (" + why + ")", h.id());
            });
        }
        Instant daily = Schedules.lastDaily(policy.dumpSchedule(), now);
        List<SlotJob> scheduledDumps = h.dumps().stream().filter(d -> "scheduled".equals(d.trigger())).map(SlotJob::of).toList();
        Instant lastDump = scheduledDumps.stream().filter(SlotRules.countsForSlot(scheduledDumps, now))
                .map(SlotJob::requestedAt).max(Instant::compareTo).orElse(null);
        if (h.registeredAt().isBefore(daily) && Schedules.due(daily, lastDump) && h.runningDump().isEmpty()) {
            ask(() -> dumps.ask(h.id(), List.of(), "scheduled", SCHEDULER), "dump", h.id());
        }
        expiry.expire(h.id(), now);
        Instant checked = continuityChecked.get(h.id());
        if (checked == null || Duration.between(checked, now).compareTo(Duration.ofHours(1)) >= 0) {
            continuityChecked.put(h.id(), now);
            continuity.check(h.id());
        }
    }

    /**
     * Whether the newest completed in-place restore still lacks the first base backup of the timeline it left, and the
     * server is back to take it. A restore asks for that backup itself; one that left the server stopped for its service
     * manager cannot (the backup would fail on a stopped server), nor one whose request the catalog refused. No base
     * backup asked for since the restore completed, and the server accepts a connection: then it is asked for, once.
     */
    private boolean restoredInPlaceWithoutBackup(DatabaseHistory h) {
        Optional<Instant> restored = h.restores().stream()
                .filter(r -> r.inPlace() && r.status() == JobStatus.COMPLETED && r.completedAt() != null)
                .map(DatabaseHistory.Restore::completedAt).max(Comparator.naturalOrder());
        if (restored.isEmpty() || h.baseBackups().stream()
                .anyMatch(b -> b.requestedAt() != null && !b.requestedAt().isBefore(restored.get()))) {
            return false;
        }
        try (Connection c = node.primary(h).open()) {
            return c.isValid(5);
        } catch (SQLException | IllegalArgumentException e) {
            LOG.debug("{}: restored in place, its server not accepting connections yet ({})", h.id(), e.getMessage());
            return false;
        }
    }

    /** Of a completed base backup: the tablespace oids it holds, and the locations its own WAL window creates. */
    private record BackupTablespaces(Set<String> held, List<String> createdDuring) {
    }

    /**
     * A tablespace of the server that the newest completed base backup does not hold. A restore replays its CREATE
     * TABLESPACE at the source's own location, so a copy beside cannot be made from an older backup past that point:
     * a base backup follows, as PostgreSQL's documentation advises, and restores after it relocate the tablespace.
     * Not again within an hour of such a backup failing; nothing when the server cannot be asked now.
     */
    private Optional<String> tablespaceNotInNewestBackup(DatabaseHistory h, Instant now) {
        Optional<DatabaseHistory.BaseBackup> newest = h.baseBackups().stream().filter(b -> b.status() == JobStatus.COMPLETED)
                .max(Comparator.comparing(DatabaseHistory.BaseBackup::completedAt));
        boolean failedLately = h.baseBackups().stream().anyMatch(b -> "tablespace".equals(b.trigger()) && b.status() == JobStatus.FAILED
                && b.requestedAt().isAfter(now.minus(Duration.ofHours(1))))
                // one that began before the CREATE anyway (a standby with no restartpoint since): not again at every tick
                || h.baseBackups().stream().filter(b -> "tablespace".equals(b.trigger()))
                .filter(b -> b.requestedAt().isAfter(now.minus(Duration.ofMinutes(10)))).count() >= 2;
        if (newest.isEmpty() || failedLately || h.pgUrl() == null) {
            return Optional.empty();
        }
        DatabaseHistory.BaseBackup b = newest.get();
        BackupTablespaces known = backupTablespaces.computeIfAbsent(b.id(), id -> {
            try (InputStream in = node.repository().openDecoded(b.manifestKey(), b.manifestSha256())) {
                BackupManifest m = BackupManifest.fromJson(in, b.manifestKey());
                return new BackupTablespaces(m.tablespaces().stream().map(BackupManifest.Tablespace::oid).collect(Collectors.toSet()),
                        // a tablespace created while that backup ran is in it, but its replay points a copy at the source's location
                        WalScan.tablespacesCreatedDuring(node.repository(), m, node.dataDirectory()));
            } catch (IOException | RuntimeException e) {
                return null; // asked again at the next tick
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        });
        if (known == null) {
            return Optional.empty();
        }
        Set<String> held = known.held();
        List<String> createdDuring = known.createdDuring();
        if (!createdDuring.isEmpty()) {
            return Optional.of("a tablespace at " + createdDuring.get(0) + " was created while base backup " + b.id() + " ran");
        }
        // only tablespaces with a location of their own: an in-place one (LOCATION '') is backed up as files of pg_tblspc
        try (Connection c = node.primary(h).open()) {
            for (ServerQueries.Tablespace t : new ServerQueries(c).tablespacesWithLocation()) {
                if (!held.contains(t.oid())) {
                    return Optional.of("tablespace " + t.name() + " was created after base backup " + b.id());
                }
            }
        } catch (SQLException | IllegalArgumentException e) {
            // the server cannot be asked now: the stream reports that; the next tick asks again
        }
        return Optional.empty();
    }

    private void ask(Runnable request, String what, String databaseId) {
        try {
            request.run();
            LOG.info("scheduled {} of {} asked for", what, databaseId);
        } catch (CatalogRejection e) {
            LOG.info("scheduled {} of {} not asked for: {}", what, databaseId, e.getMessage());
        }
    }
}
