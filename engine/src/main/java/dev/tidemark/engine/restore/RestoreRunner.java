package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.storage.Repository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Restores a base backup and replays archived WAL to a target time (or to the end of the archive): checks first,
 * then downloads and verifies every object in parallel (in place, only those holding files that the moved-aside
 * directory does not have as backed up), writes the data directory, prefetches the WAL into a local
 * spool, starts PostgreSQL and waits until it has left recovery. A failed restore leaves no startable cluster behind.
 * {@link #run} reads as the whole restore; each phase is a class beside this one.
 */
public final class RestoreRunner {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    /** How the restored server is left once recovery has ended. */
    public enum AfterRecovery {
        /** Running, in place as it is normally started (pg_ctlcluster for a Debian cluster, its own config_file). */
        RUNNING,
        /** Stopped, for the service manager to start (after a failed in-place restore, the original is left stopped too). */
        STOPPED
    }

    /** What an in-place restore does with the data directory that is there. */
    public enum InPlaceMode {
        /** Moved aside and kept until the operator removes it; files that still match are copied from it. */
        MOVE_ASIDE,
        /**
         * Restored where it is, no copy kept (delta): files with the backup's size and time are left untouched, the
         * others compared by SHA-256 (in pieces for a large file) and only what differs downloaded; allowed only when the
         * repository can give the directory's current state back (DeltaInPlace).
         */
        DELTA,
        /** As DELTA, and the SHA-256 of every file with the backup's size and time compared too (a damaged one is rewritten). */
        DELTA_CHECKSUM
    }

    /**
     * One restore.
     *
     * @param targetTime   empty: to the end of the archived WAL ("latest")
     * @param inPlace      the target directory holds the stopped database itself: it is moved aside first (or, with
     *                     inPlaceMode DELTA, restored where it is)
     * @param expectedManifestSha256 the manifest checksum the catalog recorded, or null
     * @param streamSlot   in place, the replication slot of the database's WAL stream, made on the restored server the
     *                     moment its recovery ends, so that its new timeline's WAL stays until the stream is back; or null
     */
    public record Request(String databaseId, String restoreId, String backupId, String expectedManifestSha256,
                          Optional<Instant> targetTime, Path targetDirectory, int port, boolean inPlace, String superuser,
                          int workers, Duration startTimeout, String password, AfterRecovery afterRecovery, InPlaceMode inPlaceMode,
                          String streamSlot) {
        public Request {
            inPlaceMode = inPlaceMode == null ? InPlaceMode.MOVE_ASIDE : inPlaceMode;
        }

        /** No stream's slot made. */
        public Request(String databaseId, String restoreId, String backupId, String expectedManifestSha256,
                       Optional<Instant> targetTime, Path targetDirectory, int port, boolean inPlace, String superuser,
                       int workers, Duration startTimeout, String password, AfterRecovery afterRecovery, InPlaceMode inPlaceMode) {
            this(databaseId, restoreId, backupId, expectedManifestSha256, targetTime, targetDirectory, port, inPlace, superuser, workers,
                    startTimeout, password, afterRecovery, inPlaceMode, null);
        }

        /** In place, the data directory moved aside. */
        public Request(String databaseId, String restoreId, String backupId, String expectedManifestSha256,
                       Optional<Instant> targetTime, Path targetDirectory, int port, boolean inPlace, String superuser,
                       int workers, Duration startTimeout, String password, AfterRecovery afterRecovery) {
            this(databaseId, restoreId, backupId, expectedManifestSha256, targetTime, targetDirectory, port, inPlace, superuser, workers,
                    startTimeout, password, afterRecovery, InPlaceMode.MOVE_ASIDE);
        }

        /** Left running. */
        public Request(String databaseId, String restoreId, String backupId, String expectedManifestSha256,
                       Optional<Instant> targetTime, Path targetDirectory, int port, boolean inPlace, String superuser,
                       int workers, Duration startTimeout, String password) {
            this(databaseId, restoreId, backupId, expectedManifestSha256, targetTime, targetDirectory, port, inPlace, superuser, workers,
                    startTimeout, password, AfterRecovery.RUNNING);
        }

        /** Without a password: the restored server's pg_hba.conf lets superuser in from 127.0.0.1 without one. */
        public Request(String databaseId, String restoreId, String backupId, String expectedManifestSha256,
                       Optional<Instant> targetTime, Path targetDirectory, int port, boolean inPlace, String superuser,
                       int workers, Duration startTimeout) {
            this(databaseId, restoreId, backupId, expectedManifestSha256, targetTime, targetDirectory, port, inPlace, superuser, workers,
                    startTimeout, null);
        }

        /** The same restore with the in-place mode given. */
        public Request withInPlaceMode(InPlaceMode mode) {
            return new Request(databaseId, restoreId, backupId, expectedManifestSha256, targetTime, targetDirectory, port, inPlace,
                    superuser, workers, startTimeout, password, afterRecovery, mode, streamSlot);
        }

        /** The same restore, making the stream's slot named slot on the restored server (in place only). */
        public Request withStreamSlot(String slot) {
            return new Request(databaseId, restoreId, backupId, expectedManifestSha256, targetTime, targetDirectory, port, inPlace,
                    superuser, workers, startTimeout, password, afterRecovery, inPlaceMode, inPlace ? slot : null);
        }

        /** In place without a copy (DeltaInPlace). */
        public boolean delta() {
            return inPlace && inPlaceMode != InPlaceMode.MOVE_ASIDE;
        }

        @Override
        public String toString() { // never the password
            return "restore " + restoreId + " of " + databaseId + " from " + backupId + " into " + targetDirectory + " (port " + port
                    + ", " + targetTime.map(Instant::toString).orElse("latest") + (inPlace ? ", in place" : "")
                    + (delta() ? " without a copy (delta" + (inPlaceMode == InPlaceMode.DELTA_CHECKSUM ? ", checksums" : "") + ")" : "") + ")";
        }
    }

    /**
     * What the restore achieved.
     *
     * @param downloadedBytes stored bytes of the backup's objects downloaded
     * @param reusedBytes     bytes of files copied from the data directory moved aside (in place) instead of downloaded, or
     *                        (in place without a copy) kept where they were
     * @param keptFiles       in place without a copy: files left as they were
     * @param rewrittenFiles  in place without a copy: files written (whole, or the pieces that differed)
     * @param removedPaths    in place without a copy: files, links and directories the backup does not have, removed
     */
    public record Result(Path dataDirectory, int port, Instant reachedTime, String reachedLsn, int timeline,
                         boolean stoppedAtTarget, Path movedAside, String summary, long downloadedBytes, long reusedBytes,
                         long keptFiles, long rewrittenFiles, long removedPaths) {
        /** Before the files written are counted in. */
        public Result(Path dataDirectory, int port, Instant reachedTime, String reachedLsn, int timeline, boolean stoppedAtTarget,
                      Path movedAside, String summary) {
            this(dataDirectory, port, reachedTime, reachedLsn, timeline, stoppedAtTarget, movedAside, summary, 0, 0, 0, 0, 0);
        }
    }

    private final Repository repository;
    private final PgServer.Factory servers;
    private final List<Path> restoreRoots;
    private final AtomicReference<BackupProgress> progress = new AtomicReference<>(BackupProgress.starting("queued"));
    private final Cancellation cancellation = new Cancellation();
    private final DataDirectoryWriter files;
    /** The spool to close when the restore is cancelled. */
    private volatile WalSpool activeSpool;
    private volatile String undone;

    public RestoreRunner(Repository repository, PgServer.Factory servers) {
        this(repository, servers, List.of());
    }

    /** With restoreRoots not empty, a copy beside its source goes under one of these directories only. */
    public RestoreRunner(Repository repository, PgServer.Factory servers, List<Path> restoreRoots) {
        this.repository = repository;
        this.servers = servers;
        this.restoreRoots = List.copyOf(restoreRoots);
        this.files = new DataDirectoryWriter(repository, progress, cancellation);
    }

    /**
     * Cancels the restore: the file writers and the WAL fetch stop, and the restore fails at its next step, undoing what
     * it did as any failed restore does (the copy removed; in place, the old data directory put back).
     */
    public void cancel(String by) {
        cancellation.cancel(by);
        files.stop();
        WalSpool spool = activeSpool;
        if (spool != null) {
            spool.close();
        }
    }

    /**
     * After a failed in-place restore: where the original data directory is now and how it was left (running again,
     * stopped as asked, or not started), for the failure's message; empty otherwise.
     */
    public Optional<String> undone() {
        return Optional.ofNullable(undone);
    }

    /** Who cancelled the restore, if anyone did. */
    public Optional<String> cancelledBy() {
        return cancellation.by();
    }

    public BackupProgress progress() {
        return progress.get();
    }

    /** Why pg_ctl could not be given this directory safely (it hands it to a shell), or empty when it can. */
    public static Optional<String> shellUnsafe(String what, Path path) {
        return TargetCheck.shellUnsafe(what, path);
    }

    /** Everything that can be checked before a byte is written; throws RestoreRejectedException. */
    public BackupManifest check(Request request) throws IOException {
        Path target = request.targetDirectory().toAbsolutePath().normalize();
        PgServer existing = servers.at(target);
        TargetCheck.placeAndPort(request, target, existing);
        BackupManifest manifest = loadManifest(request);
        ExternalConfig.check(request, manifest);
        if (!request.inPlace()) {
            RestoreTarget.check(target, existing.user().name(), restoreRoots, !manifest.tablespaces().isEmpty());
        }
        // the spool holds WAL as PostgreSQL reads it (whole segments), up to the target and a bounded margin; PostgreSQL
        // hard-links what it replays, so that is counted once
        long walBytes = WalSpool.spoolBytes(WalToReplay.objects(repository, request, manifest), manifest.walSegmentSize(),
                request.targetTime());
        if (request.delta()) {
            DeltaInPlace.requireReproducible(request, target, existing, manifest, repository);
            // the files are rewritten where they are: beyond the WAL, room for a whole file per worker under its temporary name
            long largest = manifest.files().stream().filter(e -> e.type() == BackupManifest.FileEntry.FILE)
                    .mapToLong(BackupManifest.FileEntry::size).max().orElse(0);
            TargetCheck.room(target, existing, walBytes + largest * Math.max(1, request.workers()) + (64L << 20));
        } else {
            TargetCheck.room(target, existing, manifest.totalBytes() + walBytes + (64L << 20));
        }
        return manifest;
    }

    public Result run(Request request) throws IOException, InterruptedException {
        Path target = request.targetDirectory().toAbsolutePath().normalize();
        TargetClaim.claim(target, request.restoreId());
        try {
            return runClaimed(request, target);
        } finally {
            TargetClaim.release(target);
        }
    }

    private Result runClaimed(Request request, Path target) throws IOException, InterruptedException {
        PhaseTimes phases = new PhaseTimes();
        BackupManifest manifest = check(request);
        Path spool = spoolOf(target);
        TargetClaim.createSpool(target, spool);
        Tablespaces tablespaces = new Tablespaces(request, manifest, target, servers);
        // in place: the settings its server is normally given on its command line (pg_ctl -o '...': postmaster.opts), for
        // the recovery and the restart after it, before the old directory goes
        List<String> ownSettings = request.inPlace() ? ownSettings(request, target) : List.of();
        // in place: the old data directory and what is at its tablespaces' locations go aside first (back at once if that fails)
        Path movedAside = null;
        try {
            if (request.inPlace() && !request.delta()) {
                movedAside = InPlace.moveAside(target, request.restoreId());
                tablespaces.moveAsideInPlace();
            }
        } catch (IOException | RuntimeException e) {
            tablespaces.putBackUnwritten();
            InPlace.putBackUnwritten(movedAside, target);
            CreatedPaths.deleteTree(spool);
            throw e;
        }
        phases.lap("checks");
        Path logFile = target.resolveSibling(target.getFileName() + ".tidemark-restore.log");
        // in place with its configuration elsewhere, the server is started with it (the copy beside gets its own)
        List<String> recoveryOwn = RecoverySettings.ownSettingsForRecovery(ownSettings, request.port());
        PgServer server = servers.at(target).launchedBy(ExternalConfig.forRecovery(request, manifest)).withOwnSettings(recoveryOwn);
        boolean success = false;
        WalSpool wal = null;
        WalToReplay.Reading reading = null;
        // an empty directory of the server's user (RestoreTarget) is kept on failure, emptied; what the restore
        // creates is listed as it goes and removed on failure, and nothing else is
        CreatedPaths created = new CreatedPaths(target);
        try {
            created.makeTarget();
            Files.setPosixFilePermissions(target, EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                    PosixFilePermission.OWNER_EXECUTE));
            long t0 = System.nanoTime();
            // the WAL is fetched, and read by the scan, while the files are written; for a time target PostgreSQL starts
            // once the WAL up to the stop point is in (the scan needs it), so the fetch has as many workers as the files;
            // for the latest moment it starts once the files are written, and replays what the scan has read
            wal = WalToReplay.openSpool(repository, request, manifest, spool, server.user());
            activeSpool = wal;
            cancellation.check();
            // in place, files that still hold the backup's bytes are copied from the directory moved aside (local reads
            // instead of downloads); copied, never linked or moved, so that directory stays the operator's intact state
            Path previous = movedAside;
            reading = WalToReplay.readWhileWriting(request, manifest, wal, tablespaces, files, () -> {
                long started = System.nanoTime();
                files.write(request, manifest, target, tablespaces, created, previous == null ? null : path -> tablespaces.previous(path, previous));
                phases.note("files alone", PhaseTimes.seconds(System.nanoTime() - started));
            });
            cancellation.check();
            long t1 = System.nanoTime();
            phases.lap(reading.streamed() ? "files written" : "files written and WAL read");
            Optional<Lsn> stopAt = reading.stopAt();
            if (!reading.streamed()) {
                WalToReplay.Scanned scanned = reading.done();
                phases.note("WAL read", PhaseTimes.seconds(scanned.readNanos()));
                tablespaces.guard(scanned.scan(), stopAt);
            }
            int walFiles = wal.files();
            long t2 = System.nanoTime();
            ExternalConfig.placeBeside(request, manifest, target);
            RecoverySettings.Written settings = RecoverySettings.write(request, manifest, target, wal.restoreCommand(), stopAt,
                    RecoverySettings.canReloadAfter(request, manifest, ExternalConfig.asUsual(request, manifest)),
                    WalToReplay.endsAsPromotedStandby(request, manifest));
            server.user().own(target);
            if (request.delta()) {
                log.info("restore {}: in place without a copy: {} files kept untouched, {} rewritten, {} paths the backup lacks being removed; {} MiB of"
                                + " objects downloaded, {} MiB kept ({}){}, in {} ms; {} WAL files in the spool; ownership set in {} ms",
                        request.restoreId(), files.keptFiles(), files.rewrittenFiles(), files.strays(), files.downloadedBytes() >> 20,
                        files.reusedBytes() >> 20, files.deltaTimes(), reading.streamed() ? " (the WAL is read beside the replay)" : "; and the WAL to replay read",
                        (t1 - t0) / 1_000_000, walFiles, (System.nanoTime() - t2) / 1_000_000);
            } else {
                log.info("restore {}: {} MiB of files written and checked ({} MiB copied from the old data directory, {} MiB of objects"
                                + " downloaded){}, in {} ms; {} WAL files in the spool; ownership set in {} ms",
                        request.restoreId(), manifest.totalBytes() >> 20, files.reusedBytes() >> 20, files.downloadedBytes() >> 20,
                        reading.streamed() ? " (the WAL is read beside the replay)" : ", and the WAL to replay read", (t1 - t0) / 1_000_000,
                        walFiles, (System.nanoTime() - t2) / 1_000_000);
            }
            tablespaces.own(server.user());
            phases.lap("settings and ownership");
            // delta: what the backup lacks is deleted once the server is consistent (not beside its start-up's file system sync)
            WalSpool spooled = wal;
            WalToReplay.Reading read = reading;
            Recovery recovery = new Recovery(request, manifest, server, target, logFile, settings, () -> spooled.replayEnd(stopAt),
                    cancellation, progress, phases, files::removeBesideRecovery).endedByTheRead(() -> read.commitAfterTarget());
            // phases from here: starting PostgreSQL, replaying WAL (Recovery, once it accepts connections), recovering
            // (promotion, the end-of-recovery checkpoint, the recovery's settings removed, the hand-over), done
            progress.set(new BackupProgress("starting PostgreSQL", manifest.totalBytes(), manifest.totalBytes(), walFiles, walFiles, 0));
            log.info("restore {}: starting PostgreSQL on port {} to replay WAL {}", request.restoreId(), request.port(),
                    request.targetTime().map(t -> "up to " + t).orElse("to the end of the archive"));
            Result result;
            try {
                result = recovery.recover(movedAside, wal);
                if (reading.streamed()) {
                    // the replay ended, so the read did (it is offered nothing the read has not passed): its result
                    WalToReplay.Scanned scanned = reading.done();
                    phases.note("WAL read beside the replay", PhaseTimes.seconds(scanned.readNanos()));
                }
                WalToReplay.requireNoHole(wal, request);
            } catch (IOException | RuntimeException e) {
                reading.rethrowFailure(); // the read's failure (a refusal keeps its kind) is what aborted the recovery
                if (e instanceof RuntimeException r) {
                    throw r;
                }
                if (wal.failure().isPresent()) {
                    throw new IOException("fetching WAL for the recovery failed, so the recovery was aborted: " + wal.failure().get(), e);
                }
                throw e;
            }
            wal.close();
            if (wal.failure().isPresent()) {
                // the recovery ended well, so it never asked for what failed (a segment it asks for and cannot have
                // aborts it): a damaged segment beyond the target does not spoil a restore that stopped before it
                log.warn("restore {}: fetching WAL beyond what the recovery needed failed ({}); the restore is complete",
                        request.restoreId(), wal.failure().get());
            }
            log.info("restore {}: {} of {} WAL files fetched ({} MiB stored) by the time recovery ended",
                    request.restoreId(), wal.fetched(), walFiles, wal.fetchedBytes() >> 20);
            long[] waits = wal.waits();
            phases.note("restore_command waited", waits[0] == 0 ? "for no segment"
                    : PhaseTimes.seconds(waits[1] * 1_000_000) + " for " + waits[0] + " segment" + (waits[0] == 1 ? "" : "s"));
            progress.set(new BackupProgress("recovering", manifest.totalBytes(), manifest.totalBytes(), walFiles, walFiles, 0));
            // a time target read beside the replay: files of a bulk load its transaction left out at the target
            String leftOut = reading.streamed() && request.targetTime().isPresent() ? LeftOutFiles.remove(request, target, server,
                    recovery, reading.done().scan().createdFiles(), logFile, settings.commandLine()) : "";
            success = true;
            CreatedPaths.deleteTree(spool);
            RecoverySettings.remove(request, target, ExternalConfig.configFile(request, manifest, target), servers);
            String handedOver = Handover.afterRecovery(request, server, ExternalConfig.asUsual(request, manifest), ownSettings,
                    logFile, settings.commandLine(), recoveryOwn.equals(ownSettings) ? recovery::reloadInsteadOfRestart
                            : () -> Optional.of("its own command line sets what the recovery set otherwise ("
                            + String.join(", ", names(ownSettings.stream().filter(o -> !recoveryOwn.contains(o)).toList())) + ")"));
            phases.lap("settings removed and hand-over");
            if (request.delta()) {
                files.awaitRemoved(); // what the backup lacks, deleted beside the recovery
                phases.lap("waiting for what the backup lacks to be deleted");
                phases.note("what the backup lacks deleted in", files.removeTime());
            }
            String reused = request.delta() ? "; in place without a copy: " + files.keptFiles() + " files kept untouched, "
                    + files.rewrittenFiles() + " rewritten, " + files.removedPaths() + " paths removed, " + (files.downloadedBytes() >> 20)
                    + " MiB downloaded" : files.reusedBytes() == 0 ? "" : "; " + (files.reusedBytes() >> 20) + " MiB of files kept from the"
                    + " old data directory (copied), " + (files.downloadedBytes() >> 20) + " MiB downloaded";
            String kept = movedAside == null ? "" : "; the old data directory is kept at " + movedAside + " (remove it once you are sure)";
            result = new Result(result.dataDirectory(), result.port(), result.reachedTime(), result.reachedLsn(), result.timeline(),
                    result.stoppedAtTarget(), result.movedAside(), result.summary() + leftOut + reused + handedOver + kept + "; " + phases.summary(),
                    files.downloadedBytes(), files.reusedBytes(), files.keptFiles(), files.rewrittenFiles(), files.removedPaths());
            progress.set(new BackupProgress("done", manifest.totalBytes(), manifest.totalBytes(), walFiles, walFiles, 0));
            log.info("restore {}: {}", request.restoreId(), result.summary());
            return result;
        } finally {
            if (reading != null) {
                reading.cancel();
            }
            if (wal != null) {
                wal.close();
            }
            if (!success) {
                progress.set(BackupProgress.starting("failed"));
                WalSpool.remove(spool); // first: a recovery in restore_command is told to abort, and stops
                try {
                    server.stopImmediately();
                } catch (IOException e) {
                    log.warn("restore {}: could not stop the server it started: {}", request.restoreId(), e.getMessage());
                }
                if (request.delta()) {
                    try {
                        files.awaitRemoved();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    undone = DeltaInPlace.failed(target, request);
                } else {
                    created.remove();
                }
                tablespaces.putBack();
                InPlace.putBack(movedAside, target, request.restoreId());
                if (movedAside != null) {
                    undone = Handover.restartOriginal(request, servers.at(target).launchedBy(ExternalConfig.asUsual(request, manifest))
                            .withOwnSettings(ownSettings), logFile);
                }
            }
        }
    }

    /** The settings the database's server is normally started with on its command line (postmaster.opts), said in the log. */
    private static List<String> ownSettings(Request request, Path target) {
        try {
            List<String> own = PgServer.commandLineSettings(target);
            if (own == null) {
                log.warn("restore {}: {}/postmaster.opts holds options not understood here: the server is started without them;"
                        + " start it the way it is normally started after the restore", request.restoreId(), target);
                return List.of();
            }
            if (!own.isEmpty()) {
                // the names only: a value may hold a secret (a primary_conninfo's password)
                log.info("restore {}: the server was started with {} set on its command line: started so again", request.restoreId(),
                        String.join(", ", names(own)));
            }
            return own;
        } catch (IOException e) {
            log.warn("restore {}: {}/postmaster.opts could not be read ({}): the server is started without its command-line options",
                    request.restoreId(), target, e.getMessage());
            return List.of();
        }
    }

    /** The names of "name=value" settings. */
    private static List<String> names(List<String> settings) {
        return settings.stream().map(s -> s.substring(0, s.indexOf('='))).toList();
    }

    private BackupManifest loadManifest(Request request) throws IOException {
        String key = repository.layout().baseBackupManifest(request.databaseId(), request.backupId());
        try (InputStream in = request.expectedManifestSha256() == null ? repository.openDecoded(key)
                : repository.openDecoded(key, request.expectedManifestSha256())) {
            return BackupManifest.fromJson(in, key);
        }
    }

    /** The WAL spool of a restore into target (beside it: it also claims the target). */
    public static Path spoolOf(Path target) {
        return target.resolveSibling(target.getFileName() + ".tidemark-wal");
    }

    /** Removes the spool of a restore that failed or was abandoned, so that a recovery still running aborts. */
    public static void abandonSpool(Path target) {
        WalSpool.remove(spoolOf(target));
    }

    /** Removes a tree without following a symbolic link anywhere in it: a link (root too) is removed, not its target. */
    public static void deleteTree(Path root) {
        CreatedPaths.deleteTree(root);
    }
}
