package dev.tidemark.engine.postgres;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.ArrayList;
import java.util.List;

/**
 * The operating-system user PostgreSQL runs as. initdb and postgres refuse to run as root, so when the engine
 * runs as root their commands go through runuser and the files they need are handed to that user.
 */
public final class ServerUser {
    private final String name;
    private final String group;
    private final boolean switchUser;

    private ServerUser(String name, String group, boolean switchUser) {
        this.name = name;
        this.group = group;
        this.switchUser = switchUser;
    }

    /** As root: the "postgres" user (or TIDEMARK_PG_USER); otherwise the current user. */
    public static ServerUser detect() {
        String current = System.getProperty("user.name");
        if ("root".equals(current)) {
            String user = System.getenv().getOrDefault("TIDEMARK_PG_USER", "postgres");
            return new ServerUser(user, user, true);
        }
        return new ServerUser(current, current, false);
    }

    /**
     * The user (and group) owning a data directory, which a copy of that cluster runs as too, so that it can use what
     * the original can (its socket directory, say). As root only, and not when root owns it (PostgreSQL will not run as
     * root): otherwise, or when the directory cannot be read, the fallback.
     */
    public static ServerUser owning(Path dataDirectory, ServerUser fallback) {
        if (!fallback.switchUser) {
            return fallback;
        }
        try {
            PosixFileAttributes attributes = Files.readAttributes(dataDirectory, PosixFileAttributes.class);
            String owner = attributes.owner().getName();
            if ("root".equals(owner) || owner.matches("\\d+")) { // root, or a number without a name here
                return fallback;
            }
            return new ServerUser(owner, attributes.group().getName(), true);
        } catch (IOException | UnsupportedOperationException e) {
            return fallback;
        }
    }

    public String name() {
        return name;
    }

    /** The command as it must be started to run as the server's user. */
    public List<String> command(List<String> command) {
        if (!switchUser) {
            return command;
        }
        List<String> wrapped = new ArrayList<>(List.of("runuser", "-u", name, "--"));
        wrapped.addAll(command);
        return wrapped;
    }

    /** Gives the tree to the server's user (a no-op unless the engine runs as root). */
    public void own(Path root) throws IOException {
        if (!switchUser || !Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        UserPrincipalLookupService lookup = root.getFileSystem().getUserPrincipalLookupService();
        UserPrincipal user = lookup.lookupPrincipalByName(name);
        GroupPrincipal ownerGroup = lookup.lookupPrincipalByGroupName(group);
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                set(dir);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                set(file);
                return FileVisitResult.CONTINUE;
            }

            private void set(Path p) throws IOException {
                PosixFileAttributeView view = Files.getFileAttributeView(p, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
                view.setOwner(user);
                view.setGroup(ownerGroup);
            }
        });
    }

    /** Gives one path (not its contents) to the server's user. */
    public void ownOne(Path path) throws IOException {
        if (!switchUser) {
            return;
        }
        UserPrincipalLookupService lookup = path.getFileSystem().getUserPrincipalLookupService();
        PosixFileAttributeView view = Files.getFileAttributeView(path, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        view.setOwner(lookup.lookupPrincipalByName(name));
        view.setGroup(lookup.lookupPrincipalByGroupName(group));
    }
}
