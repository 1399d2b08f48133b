package dev.tidemark.engine.restore;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * What a restore created, listed as it goes, so that a failed one removes that and nothing else. An empty directory
 * of the server's user given as the target (RestoreTarget) is kept on failure, emptied.
 */
final class CreatedPaths {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private final Path target;
    private final boolean targetExisted;
    private final List<Path> created = new ArrayList<>();

    CreatedPaths(Path target) {
        this.target = target;
        this.targetExisted = Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS);
    }

    /** Creates the target (and its missing parents) unless it is there already. */
    void makeTarget() throws IOException {
        if (!targetExisted) {
            Files.createDirectories(target);
            created.add(target);
        }
    }

    /** Notes a path the restore made. */
    void add(Path made) {
        created.add(made);
    }

    /** Creates dir and its missing parents, noting each directory made. */
    void createDirectories(Path dir) throws IOException {
        List<Path> missing = new ArrayList<>();
        for (Path p = dir; p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS); p = p.getParent()) {
            missing.add(p);
        }
        for (Path p : missing.reversed()) {
            created.add(Files.createDirectory(p));
        }
    }

    /** Empties a target that was there before, and removes what the restore made, the last made first. */
    void remove() {
        if (targetExisted) {
            emptyDirectory(target);
        }
        for (Path made : created.reversed()) {
            deleteTree(made);
        }
    }

    /** Removes what is in dir, not dir itself; a dir replaced by a symbolic link is left alone. */
    private static void emptyDirectory(Path dir) {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> children = Files.list(dir)) {
            children.toList().forEach(CreatedPaths::deleteTree);
        } catch (IOException e) {
            log.warn("could not empty {}: {}", dir, e.getMessage());
        }
    }

    /** Removes a tree without following a symbolic link anywhere in it: a link (root too) is removed, not its target. */
    static void deleteTree(Path root) {
        if (root == null || !Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            log.warn("could not remove {}: {}", root, e.getMessage());
        }
    }
}
