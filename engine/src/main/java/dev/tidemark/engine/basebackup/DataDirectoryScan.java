package dev.tidemark.engine.basebackup;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Lists what a base backup copies from a data directory: every directory and file, tablespaces followed, minus
 * what PostgreSQL documents as excluded (WAL, temporary and runtime state). Files that vanish while listed are skipped.
 */
public final class DataDirectoryScan {
    /** Directories kept empty in the copy. */
    static final Set<String> EMPTIED = Set.of("pg_wal", "pg_dynshmem", "pg_notify", "pg_replslot", "pg_serial",
            "pg_snapshots", "pg_stat_tmp", "pg_subtrans");
    /** True for a top-level directory whose content is never copied (pg_wal and the like). */
    public static boolean isEmptiedDirectory(String relativePath) {
        return EMPTIED.contains(relativePath);
    }

    /** Files of the top directory that are never copied. */
    static final Set<String> SKIPPED_TOP = Set.of("postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map",
            "backup_label.old", "tablespace_map.old", "recovery.signal", "standby.signal", "current_logfiles");

    /** One item to copy: its path relative to the data directory and where it really is. */
    public record Item(String path, Path source, char type, long size, int mode, Instant mtime, String linkTarget) {
    }

    public record Result(List<Item> items, List<BackupManifest.Tablespace> tablespaces, long totalBytes) {
    }

    private DataDirectoryScan() {
    }

    /**
     * How this server's directory in a tablespace's location begins (PG_15_, say; PG_15_202209061 in full): other
     * versions' directories there belong to other clusters.
     */
    public static String tablespaceVersionPrefix(Path dataDirectory) throws IOException {
        return "PG_" + Files.readString(dataDirectory.resolve("PG_VERSION")).trim() + "_";
    }

    public static Result scan(Path dataDirectory) throws IOException {
        List<Item> items = new ArrayList<>();
        List<BackupManifest.Tablespace> tablespaces = new ArrayList<>();
        walk(dataDirectory, "", items, true, null);
        // in a tablespace's location only this server's version directory (PG_15_202209061, say) is the cluster's, as
        // pg_basebackup copies it: anything else there (another cluster, a restore put there) is not backed up
        String versionPrefix = tablespaceVersionPrefix(dataDirectory);
        Path tblspc = dataDirectory.resolve("pg_tblspc");
        if (Files.isDirectory(tblspc)) {
            try (Stream<Path> links = Files.list(tblspc)) {
                for (Path link : links.sorted().toList()) {
                    if (!Files.isSymbolicLink(link)) {
                        continue;
                    }
                    String oid = link.getFileName().toString();
                    Path target = Files.readSymbolicLink(link);
                    Path resolved = target.isAbsolute() ? target : link.getParent().resolve(target).normalize();
                    tablespaces.add(new BackupManifest.Tablespace(oid, resolved.toString()));
                    walk(resolved, "pg_tblspc/" + oid, items, false, versionPrefix);
                }
            }
        }
        long total = items.stream().mapToLong(Item::size).sum();
        return new Result(items, tablespaces, total);
    }

    /**
     * The items of configuration files that lie outside the data directory, under BackupManifest.EXTERNAL_CONFIG,
     * with a directory item for each directory above them. A file that cannot be read fails the backup: a backup
     * without the server's configuration would not start when restored.
     */
    public static Result withExternal(Result scan, List<Path> externalFiles) throws IOException {
        if (externalFiles.isEmpty()) {
            return scan;
        }
        List<Item> items = new ArrayList<>(scan.items());
        java.util.Set<String> directories = new java.util.TreeSet<>();
        long bytes = 0;
        for (Path file : externalFiles) {
            String path = BackupManifest.externalPath(file.toAbsolutePath().normalize().toString());
            for (int slash = path.indexOf('/'); slash > 0; slash = path.indexOf('/', slash + 1)) {
                directories.add(path.substring(0, slash));
            }
            PosixFileAttributes a;
            try {
                a = Files.readAttributes(file, PosixFileAttributes.class);
            } catch (IOException e) {
                throw new IOException("cannot read the server's configuration file " + file + " (outside its data directory): "
                        + e.getMessage() + "; let the engine's user read it", e);
            }
            if (!Files.isReadable(file)) {
                throw new IOException("cannot read the server's configuration file " + file + " (outside its data directory):"
                        + " permission denied; let the engine's user read it");
            }
            items.add(new Item(path, file, 'f', a.size(), mode(a.permissions()), a.lastModifiedTime().toInstant(), null));
            bytes += a.size();
        }
        for (String dir : directories) {
            items.add(new Item(dir, null, 'd', 0, 0700, Instant.now(), null));
        }
        return new Result(items, scan.tablespaces(), scan.totalBytes() + bytes);
    }

    /** versionPrefix: for a tablespace, the only top-level directories to copy (the server's version directory). */
    private static void walk(Path root, String prefix, List<Item> items, boolean isDataDirectory, String versionPrefix)
            throws IOException {
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                if (versionPrefix != null && root.equals(dir.getParent()) && !dir.getFileName().toString().startsWith(versionPrefix)) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                String rel = relative(root, dir, prefix);
                if (!rel.isEmpty()) {
                    add(dir, rel, 'd', 0);
                }
                String name = dir.getFileName() == null ? "" : dir.getFileName().toString();
                if (isDataDirectory && dir.getParent() != null && dir.getParent().equals(root) && EMPTIED.contains(name)) {
                    if (name.equals("pg_wal")) {
                        add(dir.resolve("archive_status"), "pg_wal/archive_status", 'd', 0);
                    }
                    return FileVisitResult.SKIP_SUBTREE;
                }
                if (name.startsWith("pgsql_tmp")) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                if (versionPrefix != null && root.equals(file.getParent())) {
                    return FileVisitResult.CONTINUE; // a file beside the version directory: not the cluster's
                }
                String rel = relative(root, file, prefix);
                String name = file.getFileName().toString();
                if (attrs.isSymbolicLink()) {
                    if (isDataDirectory && file.getParent().equals(root) && EMPTIED.contains(name)) {
                        // pg_wal on a volume of its own (initdb --waldir): restored as an empty directory, as
                        // pg_basebackup does; a link would point the restored server at the source's live WAL
                        items.add(new Item(rel, file, 'd', 0, 0700, attrs.lastModifiedTime().toInstant(), null));
                        if (name.equals("pg_wal")) {
                            items.add(new Item("pg_wal/archive_status", file.resolve("archive_status"), 'd', 0, 0700,
                                    attrs.lastModifiedTime().toInstant(), null));
                        }
                    } else if (!rel.startsWith("pg_tblspc/")) {
                        add(file, rel, 'l', 0);
                    }
                    return FileVisitResult.CONTINUE;
                }
                if (!attrs.isRegularFile()) {
                    return FileVisitResult.CONTINUE;
                }
                if (isDataDirectory && file.getParent().equals(root) && SKIPPED_TOP.contains(name)) {
                    return FileVisitResult.CONTINUE;
                }
                if (name.equals("pg_internal.init") || name.startsWith("pgsql_tmp") || name.endsWith(".tmp")
                        && rel.startsWith("pg_stat")) {
                    return FileVisitResult.CONTINUE;
                }
                add(file, rel, 'f', attrs.size());
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
                if (exc instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE; // vanished while we walked: PostgreSQL removed it
                }
                throw exc;
            }

            private void add(Path p, String rel, char type, long size) throws IOException {
                try {
                    PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    String link = type == 'l' ? Files.readSymbolicLink(p).toString() : null;
                    items.add(new Item(rel, p, type, size, mode(a.permissions()), a.lastModifiedTime().toInstant(), link));
                } catch (NoSuchFileException e) {
                    if (type == 'd' && rel.equals("pg_wal/archive_status")) {
                        items.add(new Item(rel, p, 'd', 0, 0700, Instant.now(), null));
                    }
                }
            }
        });
    }

    private static String relative(Path root, Path p, String prefix) {
        String rel = root.relativize(p).toString();
        if (prefix.isEmpty()) {
            return rel;
        }
        return rel.isEmpty() ? prefix : prefix + "/" + rel;
    }

    static int mode(Set<PosixFilePermission> perms) {
        int mode = 0;
        for (PosixFilePermission p : perms) {
            mode |= switch (p) {
                case OWNER_READ -> 0400;
                case OWNER_WRITE -> 0200;
                case OWNER_EXECUTE -> 0100;
                case GROUP_READ -> 040;
                case GROUP_WRITE -> 020;
                case GROUP_EXECUTE -> 010;
                case OTHERS_READ -> 04;
                case OTHERS_WRITE -> 02;
                case OTHERS_EXECUTE -> 01;
            };
        }
        return mode;
    }
}
