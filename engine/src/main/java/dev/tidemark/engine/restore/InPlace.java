package dev.tidemark.engine.restore;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * An in-place restore's old data directory: moved aside, beside itself, before anything is written, and put back when
 * the restore fails. Tablespaces moved aside are Tablespaces' part.
 */
final class InPlace {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

    private InPlace() {
    }

    /** Where a directory is moved aside to: beside it, stamped with the time now. */
    static Path asideOf(Path location) {
        return location.resolveSibling(location.getFileName() + ".tidemark-moved-" + STAMP.format(Instant.now()));
    }

    /** Moves the old data directory aside; returns where it went. */
    static Path moveAside(Path target, String restoreId) throws IOException {
        Path movedAside = asideOf(target);
        Files.move(target, movedAside, StandardCopyOption.ATOMIC_MOVE);
        log.info("restore {}: moved the old data directory {} aside to {}", restoreId, target, movedAside);
        return movedAside;
    }

    /** Before anything was written: the old data directory back, if it was moved and its place is free. */
    static void putBackUnwritten(Path movedAside, Path target) throws IOException {
        if (movedAside != null && !Files.exists(target)) {
            Files.move(movedAside, target, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** After a failed restore (what it wrote at target removed): the old data directory back, if it was moved. */
    static void putBack(Path movedAside, Path target, String restoreId) throws IOException {
        if (movedAside != null) {
            Files.move(movedAside, target, StandardCopyOption.ATOMIC_MOVE);
            log.info("restore {} failed: the old data directory is back at {}", restoreId, target);
        }
    }
}
