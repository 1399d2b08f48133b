package dev.tidemark.engine.restore;

import dev.tidemark.engine.node.ResolvedPath;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where a restore beside its source may write, checked before anything is written. The target is a directory the
 * restore creates, or an existing empty directory the server's user owns already: the restore never takes over a
 * directory of someone else's (it would chown and chmod it, and the copy's superuser could then write into it). A
 * symbolic link is refused (its real path is asked for), and so is an existing TARGET.tablespaces, which a failed
 * restore would otherwise clean up. With restore roots configured, the target lies under one of them.
 */
final class RestoreTarget {
    private RestoreTarget() {
    }

    /** Throws RestoreRejectedException when target (absolute, normalised) breaks a rule; serverUser runs the copy. */
    static void check(Path target, String serverUser, List<Path> roots, boolean hasTablespaces) throws IOException {
        if (Files.isSymbolicLink(target)) {
            throw new RestoreRejectedException("target " + target + " is a symbolic link (to " + realOrLink(target) + "): give the"
                    + " real directory's path as the target (nothing was written)");
        }
        if (!roots.isEmpty()) {
            Path real = ResolvedPath.of(target);
            Optional<Path> root = roots.stream().map(ResolvedPath::of).filter(r -> real.startsWith(r) && !real.equals(r))
                    .findFirst();
            if (root.isEmpty()) {
                throw new RestoreRejectedException("target " + target + (real.equals(target) ? "" : " (really " + real + ")")
                        + " is not under a configured restore root " + roots + ": choose a directory under one of them, or add one"
                        + " to tidemark.restore-roots (nothing was written)");
            }
        }
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
                throw new RestoreRejectedException("target " + target + " exists and is not a directory: choose a new directory");
            }
            try (Stream<Path> entries = Files.list(target)) {
                if (entries.findAny().isPresent()) {
                    throw new RestoreRejectedException("target directory " + target + " is not empty: choose a new directory or empty it"
                            + " (nothing was written)");
                }
            }
            String owner = Files.getOwner(target, LinkOption.NOFOLLOW_LINKS).getName();
            if (!owner.equals(serverUser)) {
                throw new RestoreRejectedException("target directory " + target + " is owned by " + owner + ", not by " + serverUser
                        + ", the user the restored PostgreSQL runs as: the restore takes over only a directory that user owns"
                        + " already. Give a path that does not exist yet (the restore creates it), or hand the empty directory to"
                        + " that user first (chown " + serverUser + " " + target + ") (nothing was written)");
            }
        }
        Path tablespaces = tablespacesOf(target);
        if (hasTablespaces && Files.exists(tablespaces, LinkOption.NOFOLLOW_LINKS)) {
            throw new RestoreRejectedException(tablespaces + " exists" + (Files.isSymbolicLink(tablespaces) ? " (a symbolic link)" : "")
                    + ": the restore puts the copy's tablespaces there and must create it itself. Remove it, or choose another"
                    + " target (nothing was written)");
        }
    }

    /** The directory beside a copy that holds its tablespaces. */
    static Path tablespacesOf(Path target) {
        return target.resolveSibling(target.getFileName() + ".tablespaces");
    }

    private static String realOrLink(Path link) {
        try {
            return link.toRealPath().toString();
        } catch (IOException e) {
            try {
                return Files.readSymbolicLink(link) + ", which does not resolve";
            } catch (IOException again) {
                return "an unreadable target";
            }
        }
    }
}
