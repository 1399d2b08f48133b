package dev.tidemark.engine.restore;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A restore's hold on its target: in this engine, a set of the directories restores are writing into now; on disk,
 * the WAL spool beside the target, created atomically. No two restores write into, above or below each other.
 */
final class TargetClaim {
    /** The directories restores of this engine are writing into now, with their spools: no two may overlap. */
    private static final Set<Path> ACTIVE = new HashSet<>();

    private TargetClaim() {
    }

    /** Claims target for this restore, or refuses it when another one under way writes into, above or below it. */
    static void claim(Path target, String restoreId) {
        synchronized (ACTIVE) {
            for (Path other : ACTIVE) {
                for (Path mine : List.of(target, RestoreRunner.spoolOf(target))) {
                    for (Path theirs : List.of(other, RestoreRunner.spoolOf(other))) {
                        if (mine.startsWith(theirs) || theirs.startsWith(mine)) {
                            throw new RestoreRejectedException("another restore is writing into " + other + ", which overlaps " + target
                                    + ": choose a directory outside it (nothing was written)");
                        }
                    }
                }
            }
            ACTIVE.add(target);
        }
    }

    static void release(Path target) {
        synchronized (ACTIVE) {
            ACTIVE.remove(target);
        }
    }

    /**
     * The target is claimed by creating its WAL spool, atomically: a second restore into the same directory (of
     * another database, or asked at the same moment) is refused here and touches nothing of the first.
     */
    static void createSpool(Path target, Path spool) throws IOException {
        try {
            Files.createDirectories(target.getParent());
            // decrypted WAL goes in it: for the server's user alone, as pg_wal is
            Files.createDirectory(spool, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            throw new RestoreRejectedException("another restore is writing into " + target + " (its WAL spool " + spool + " exists):"
                    + " choose another directory; if no restore runs, the spool is left from an interrupted one: delete it"
                    + " (nothing was written)");
        }
    }
}
