package dev.tidemark.engine.restore;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Delta: what the data directory (and the tablespaces' locations) held that the backup lacks, found by
 * DeltaInPlace.removeExtras. Freeing a large file's blocks takes the file system a while (about 14 ms per WAL segment
 * here), longer than comparing and writing the files, so nothing waits for it where it need not: what lies in the data
 * directory is moved beside it at once (a rename each) and deleted once the recovering server is consistent (beside the
 * downloads and the WAL fetch, whose writes and syncs share the file system's journal, it slowed both); what lies
 * elsewhere (a tablespace's location, maybe another file system), or cannot be moved, is deleted where it is while the
 * files are written. The restore ends once both are gone.
 */
final class Strays {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private final String restoreId;
    private final Path trash;
    private final int found;
    /** What is deleted where it is, while the files are written. */
    private final FutureTask<Void> inPlace;
    /** The trash, deleted beside the recovery (or here, at the end, if the recovery never got that far). */
    private final FutureTask<Void> moved;
    private volatile long movedNanos;

    private Strays(String restoreId, Path trash, int found, List<Path> left, AtomicLong removedPaths) {
        this.restoreId = restoreId;
        this.trash = trash;
        this.found = found;
        this.inPlace = new FutureTask<>(() -> {
            removedPaths.addAndGet(DeltaInPlace.removeAll(left));
            return null;
        });
        this.moved = new FutureTask<>(() -> {
            long from = System.nanoTime();
            if (Files.isDirectory(trash, LinkOption.NOFOLLOW_LINKS)) {
                removedPaths.addAndGet(DeltaInPlace.removeAll(List.of(trash)) - 1); // the trash directory itself is no path of the database's
            }
            movedNanos = System.nanoTime() - from;
            return null;
        });
    }

    /**
     * Moves the strays under target beside it (into target.tidemark-removed-RESTOREID) and starts deleting the rest where
     * they are; each path deleted is counted into removedPaths.
     */
    static Strays start(List<Path> strays, Path target, String restoreId, AtomicLong removedPaths) {
        Path trash = target.resolveSibling(target.getFileName() + ".tidemark-removed-" + restoreId);
        Strays s = new Strays(restoreId, trash, strays.size(), moveOut(strays, target, trash, restoreId), removedPaths);
        s.thread(s.inPlace);
        return s;
    }

    /**
     * Moves each stray under target into trash (a sibling of target, made here), a rename each; returns the strays left
     * where they are, to be deleted there: those outside target (a tablespace's location), and all of them once a move
     * fails (trash on another file system than a data directory that is a mount point, or no room for a sibling).
     */
    static List<Path> moveOut(List<Path> strays, Path target, Path trash, String restoreId) {
        List<Path> left = new ArrayList<>();
        boolean moving = true;
        int moved = 0;
        for (Path stray : strays) {
            if (moving && stray.startsWith(target)) {
                try {
                    if (moved == 0) {
                        Files.createDirectory(trash, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                    }
                    Files.move(stray, trash.resolve(Integer.toString(moved + 1)), StandardCopyOption.ATOMIC_MOVE);
                    moved++;
                    continue;
                } catch (IOException e) {
                    moving = false;
                    log.info("restore {}: what the backup lacks cannot be moved to {} ({}); it is deleted where it is, before the"
                            + " recovery starts", restoreId, trash, e.toString());
                }
            }
            left.add(stray);
        }
        return left;
    }

    /** Paths found (a directory with what it holds counting once). */
    int found() {
        return found;
    }

    /** Waits until what is deleted where it is has gone, however that ends (a failure's clean-up must not run beside it). */
    void settleInPlace() {
        try {
            inPlace.get();
        } catch (ExecutionException | CancellationException e) {
            // reported by awaitInPlace, when the restore gets that far
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits until what is deleted where it is has gone; its failure is the restore's. */
    void awaitInPlace() throws IOException, InterruptedException {
        try {
            inPlace.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof IOException io ? io : new IOException("removing what the backup does not have failed: " + cause, cause);
        }
    }

    /** Starts deleting what was moved beside the data directory (once the recovering server is consistent). */
    void deleteMovedBesideRecovery() {
        thread(moved);
    }

    /**
     * Waits until what was moved beside the data directory is deleted, deleting it here if that never started (a failure
     * before the recovery); a failure to delete it is logged, and the restore stands: nothing of it is the database's.
     */
    void awaitMoved() throws InterruptedException {
        moved.run(); // nothing when it ran or runs already
        try {
            moved.get();
        } catch (ExecutionException e) {
            log.warn("restore {}: could not delete {} (what the data directory held that the backup does not have, moved out of it):"
                    + " {}; remove it yourself", restoreId, trash, e.getCause().getMessage());
        }
    }

    /** How long deleting what was moved took. */
    String movedTime() {
        return PhaseTimes.seconds(movedNanos);
    }

    private void thread(FutureTask<Void> task) {
        Thread t = new Thread(task, "restore-" + restoreId + "-remove");
        t.setDaemon(true);
        t.start();
    }
}
