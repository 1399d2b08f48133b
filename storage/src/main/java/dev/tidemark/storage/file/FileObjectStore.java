package dev.tidemark.storage.file;

import dev.tidemark.storage.Appender;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.ObjectNotFoundException;
import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.UUID;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * An object store in a local directory (or a mounted file system). Writes go to a hidden temp file beside the target,
 * which is fsynced, renamed over the key and followed by an fsync of the directory: a reader sees the old object or
 * the new one, never half of one, and a committed object survives a power loss.
 */
public final class FileObjectStore implements ObjectStore {
    private static final String TEMP_MARK = ".tidemark-tmp-";
    /** Backups are the databases' data: the repository's directories and files are its owner's alone, from creation on. */
    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE_DIRECTORY =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
    private final Path root;

    public FileObjectStore(Path root) {
        this.root = root.toAbsolutePath().normalize();
        try {
            Files.createDirectories(this.root, PRIVATE_DIRECTORY);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create repository directory " + this.root + ": " + e.getMessage(), e);
        }
    }

    public Path root() {
        return root;
    }

    @Override
    public ObjectWriter create(String key) throws IOException {
        Path target = resolve(key);
        Path temp = target.resolveSibling(TEMP_MARK + target.getFileName() + "-" + UUID.randomUUID());
        for (int attempt = 1; ; attempt++) {
            createDirectoriesDurably(target.getParent());
            try {
                FileChannel channel = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), PRIVATE_FILE);
                return new FileWriter(key, target, temp, channel);
            } catch (NoSuchFileException e) {
                if (attempt == 3) {
                    throw e; // the directory keeps vanishing: a concurrent delete pruned it
                }
            }
        }
    }

    @Override
    public InputStream get(String key) throws IOException {
        try {
            return Files.newInputStream(resolve(key));
        } catch (NoSuchFileException e) {
            throw new ObjectNotFoundException(describe(), key);
        }
    }

    @Override
    public InputStream get(String key, long offset, long length) throws IOException {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("offset and length must not be negative");
        }
        FileChannel channel;
        try {
            channel = FileChannel.open(resolve(key), StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new ObjectNotFoundException(describe(), key);
        }
        channel.position(offset);
        InputStream all = Channels.newInputStream(channel);
        return new InputStream() {
            private long left = length;

            @Override
            public int read() throws IOException {
                if (left <= 0) {
                    return -1;
                }
                int b = all.read();
                if (b >= 0) {
                    left--;
                }
                return b;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (left <= 0) {
                    return -1;
                }
                int n = all.read(b, off, (int) Math.min(len, left));
                if (n > 0) {
                    left -= n;
                }
                return n;
            }

            @Override
            public void close() throws IOException {
                all.close();
            }
        };
    }

    @Override
    public Optional<ObjectInfo> stat(String key) throws IOException {
        Path path = resolve(key);
        try {
            BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class);
            if (!attributes.isRegularFile()) {
                return Optional.empty();
            }
            return Optional.of(new ObjectInfo(key, attributes.size(), attributes.lastModifiedTime().toInstant()));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /** Walks the tree lazily in key order, starting at the deepest directory the prefix names. */
    @Override
    public Stream<ObjectInfo> list(String prefix) throws IOException {
        String directoryPart = prefix.contains("/") ? prefix.substring(0, prefix.lastIndexOf('/') + 1) : "";
        if (!directoryPart.isEmpty()) {
            checkKey(directoryPart + "x");
        }
        Path start = directoryPart.isEmpty() ? root : root.resolve(directoryPart);
        if (!Files.isDirectory(start)) {
            return Stream.empty();
        }
        Iterator<ObjectInfo> iterator = new SortedWalk(start, directoryPart, prefix);
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(iterator, Spliterator.ORDERED | Spliterator.NONNULL), false);
    }

    /**
     * A file written in place: created empty and renamed into place as any object is, then each append written at its end
     * and made durable with one fdatasync. Not preallocated: zero-filling a segment's size costs about 25 ms in the commit
     * that opens the file and saves about 0.06 ms per append (docs/benchmarks.md).
     */
    @Override
    public Optional<Appender> appender(String key) throws IOException {
        try (ObjectWriter writer = create(key)) {
            writer.commit();
        }
        Path path = resolve(key);
        FileChannel channel = FileChannel.open(path, StandardOpenOption.WRITE);
        return Optional.of(new Appender() {
            private long end;
            private boolean failed;

            @Override
            public void append(ByteBuffer bytes) throws IOException {
                if (failed) {
                    throw new IOException("appending to " + key + " failed before: what follows its last append is unknown");
                }
                try {
                    while (bytes.hasRemaining()) {
                        end += channel.write(bytes, end);
                    }
                    channel.force(false);
                } catch (IOException e) {
                    failed = true; // after a failed write or fdatasync the file's state is unknown: no append goes after it
                    throw new IOException("appending to " + key + " in the repository " + root + " failed: " + e.getMessage(), e);
                }
            }

            @Override
            public void close() throws IOException {
                channel.close();
            }
        });
    }

    @Override
    public void delete(String key) throws IOException {
        Path path = resolve(key);
        Files.deleteIfExists(path);
        pruneEmptyParents(path.getParent());
    }

    @Override
    public void deleteAll(Collection<String> keys) throws IOException {
        for (String key : keys) {
            delete(key);
        }
    }

    /** The temporary files of writes that never committed, in the directories under prefix (a whole-directory prefix). */
    @Override
    public void deleteUnfinished(String prefix) throws IOException {
        Path start = prefix.isEmpty() ? root : root.resolve(prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix)
                .normalize();
        if (!start.startsWith(root) || !Files.isDirectory(start)) {
            return;
        }
        List<Path> temps;
        try (Stream<Path> paths = Files.walk(start)) {
            temps = paths.filter(p -> p.getFileName().toString().startsWith(TEMP_MARK) && Files.isRegularFile(p)).toList();
        }
        for (Path temp : temps) {
            Files.deleteIfExists(temp);
            pruneEmptyParents(temp.getParent());
        }
    }

    @Override
    public String describe() {
        return root.toUri().toString();
    }

    private void pruneEmptyParents(Path directory) {
        Path current = directory;
        while (current != null && current.startsWith(root) && !current.equals(root)) {
            try {
                Files.delete(current);
            } catch (DirectoryNotEmptyException | NoSuchFileException e) {
                return;
            } catch (IOException e) {
                return;
            }
            current = current.getParent();
        }
    }

    private Path resolve(String key) {
        checkKey(key);
        Path path = root.resolve(key).normalize();
        if (!path.startsWith(root) || path.equals(root)) {
            throw new IllegalArgumentException("key '" + key + "' leaves the repository directory");
        }
        return path;
    }

    private static void checkKey(String key) {
        if (key == null || key.isEmpty() || key.startsWith("/") || key.endsWith("/") || key.contains("//")
                || key.contains("\\") || key.contains("\0")) {
            throw new IllegalArgumentException("invalid object key '" + key + "': keys are non-empty '/'-separated names");
        }
        for (String part : key.split("/")) {
            if (part.equals(".") || part.equals("..") || part.startsWith(TEMP_MARK)) {
                throw new IllegalArgumentException("invalid object key '" + key + "': '" + part + "' is not allowed as a name");
            }
        }
    }

    private static void force(Path path, boolean directory) throws IOException {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            if (!directory) {
                throw e;
            }
            return; // some file systems cannot open a directory for fsync; the rename itself is still atomic
        }
        try (channel) {
            channel.force(true); // a failing fsync is an I/O error: the object is not durable, whatever it is
        }
    }

    /**
     * Creates the missing directories of path and syncs the parent of each new one: a new directory's entry is
     * durable only once its parent is, and the objects committed into it (acknowledged WAL among them) with it.
     */
    private void createDirectoriesDurably(Path directory) throws IOException {
        Path firstMissing = null;
        for (Path p = directory; p != null && p.startsWith(root) && !Files.isDirectory(p); p = p.getParent()) {
            firstMissing = p;
        }
        if (firstMissing == null) {
            return;
        }
        Files.createDirectories(directory, PRIVATE_DIRECTORY);
        for (Path p = directory; p != null && !p.equals(firstMissing.getParent()); p = p.getParent()) {
            force(p.getParent(), true);
        }
    }

    private final class FileWriter extends ObjectWriter {
        private final String key;
        private final Path target;
        private final Path temp;
        private final FileChannel channel;
        private final OutputStream out;
        private boolean finished;

        FileWriter(String key, Path target, Path temp, FileChannel channel) {
            this.key = key;
            this.target = target;
            this.temp = temp;
            this.channel = channel;
            this.out = Channels.newOutputStream(channel);
        }

        @Override
        public void write(int b) throws IOException {
            try {
                out.write(b);
            } catch (IOException e) {
                throw located(e);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                throw located(e);
            }
        }

        /** A write error (a full disk, above all) says where: the repository's directory, not only the system's words. */
        private IOException located(IOException e) {
            return new IOException("writing " + key + " into the repository " + root + " failed: " + e.getMessage(), e);
        }

        @Override
        public ObjectInfo commit() throws IOException {
            if (finished) {
                throw new IOException("write of " + key + " is already finished");
            }
            try {
                try {
                    channel.force(true);
                } catch (IOException e) {
                    throw located(e);
                }
                long size = channel.size();
                channel.close();
                try {
                    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    throw new IOException("the file system of " + root + " cannot rename atomically; use another directory", e);
                }
                force(target.getParent(), true);
                finished = true;
                return new ObjectInfo(key, size, Files.getLastModifiedTime(target).toInstant());
            } catch (IOException | RuntimeException e) {
                abort();
                throw e;
            }
        }

        @Override
        public void abort() {
            if (finished) {
                return;
            }
            finished = true;
            try {
                channel.close();
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // the temp file carries a mark that list() skips; nothing else sees it
            }
        }
    }

    /** Depth-first walk, each directory's entries sorted so that keys come out in ascending order. */
    private final class SortedWalk implements Iterator<ObjectInfo> {
        private final String prefix;
        private final Deque<Iterator<Entry>> stack = new ArrayDeque<>();
        private ObjectInfo next;

        private record Entry(Path path, String key, boolean directory) {
        }

        SortedWalk(Path start, String startKey, String prefix) {
            this.prefix = prefix;
            stack.push(entries(start, startKey).iterator());
        }

        private List<Entry> entries(Path directory, String directoryKey) {
            List<Entry> entries = new ArrayList<>();
            try (DirectoryStream<Path> children = Files.newDirectoryStream(directory)) {
                for (Path child : children) {
                    String name = child.getFileName().toString();
                    if (name.startsWith(TEMP_MARK)) {
                        continue;
                    }
                    boolean isDirectory = Files.isDirectory(child);
                    entries.add(new Entry(child, directoryKey + name + (isDirectory ? "/" : ""), isDirectory));
                }
            } catch (NoSuchFileException e) {
                return List.of();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list " + directory + ": " + e.getMessage(), e);
            }
            entries.sort(Comparator.comparing(Entry::key));
            return entries;
        }

        @Override
        public boolean hasNext() {
            while (next == null && !stack.isEmpty()) {
                Iterator<Entry> top = stack.peek();
                if (!top.hasNext()) {
                    stack.pop();
                    continue;
                }
                Entry entry = top.next();
                if (entry.directory()) {
                    if (entry.key().startsWith(prefix) || prefix.startsWith(entry.key())) {
                        stack.push(entries(entry.path(), entry.key()).iterator());
                    }
                } else if (entry.key().startsWith(prefix)) {
                    try {
                        BasicFileAttributes attributes = Files.readAttributes(entry.path(), BasicFileAttributes.class);
                        next = new ObjectInfo(entry.key(), attributes.size(), attributes.lastModifiedTime().toInstant());
                    } catch (NoSuchFileException e) {
                        // deleted while listing
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            }
            return next != null;
        }

        @Override
        public ObjectInfo next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            ObjectInfo result = next;
            next = null;
            return result;
        }
    }
}
