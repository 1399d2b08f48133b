package dev.tidemark.engine.node;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A path with the links of its existing part resolved, for comparing directories whatever way they are named. */
public final class ResolvedPath {
    private ResolvedPath() {
    }

    /** The path with the links of its existing part resolved (the rest, not yet created, appended as written). */
    public static Path of(Path p) {
        Path absolute = p.toAbsolutePath().normalize();
        Path existing = absolute;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return absolute;
        }
        try {
            return existing.toRealPath().resolve(existing.relativize(absolute)).normalize();
        } catch (IOException e) {
            return absolute;
        }
    }
}
