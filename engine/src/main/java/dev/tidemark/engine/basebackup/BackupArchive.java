package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.PartialSegment;
import dev.tidemark.storage.Repository;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.LongConsumer;
import java.util.stream.Collectors;

/**
 * A base backup as one tar stream that is a startable data directory on its own, like {@code pg_basebackup -Ft -X fetch}:
 * every file of the backup (checked against its SHA-256 from the manifest as it passes), its backup_label, and in
 * pg_wal the WAL segments from the backup's start to its stop (a partial segment padded to a full one). Extracted, it
 * starts with {@code pg_ctl start}: PostgreSQL replays that WAL, so the copy holds what was committed by the end of the
 * backup's last segment (its stop, or a little after). Archiving is turned off in it.
 *
 * <p>Tablespaces come as directories inside pg_tblspc (in-place tablespaces, with allow_in_place_tablespaces added to
 * postgresql.auto.conf where the server needs it) and no tablespace_map, so the archive never points at the source's
 * directories. A damaged object stops the stream: the reader gets a truncated archive
 * (no end-of-archive blocks, and an HTTP transfer cut short), never a quietly wrong one.
 */
public final class BackupArchive {
    /** What the archive needs from the repository besides the backup's own objects. */
    public record Wal(List<ObjectInfo> segments, List<Boolean> partial, Optional<ObjectInfo> history) {
    }

    private static final String AUTO_CONF = "postgresql.auto.conf";

    private final Repository repository;

    public BackupArchive(Repository repository) {
        this.repository = repository;
    }

    /**
     * The WAL segments from the one holding the start LSN to the one holding the last byte before the stop LSN, on the
     * backup's timeline (a whole segment rather than a partial one where both exist). Empty when one is missing.
     */
    public Optional<Wal> wal(BackupManifest m) throws IOException {
        var layout = repository.layout();
        long size = m.walSegmentSize();
        WalSegment first = WalSegment.containing(m.timeline(), Lsn.parse(m.startLsn()), size);
        WalSegment last = WalSegment.containing(m.timeline(), new Lsn(Lsn.parse(m.stopLsn()).value() - 1), size);
        List<ObjectInfo> segments = new ArrayList<>();
        List<Boolean> partial = new ArrayList<>();
        for (WalSegment s = first; s.compareTo(last) <= 0; s = s.next()) {
            Optional<ObjectInfo> whole = repository.store().stat(layout.walSegment(m.databaseId(), m.chain(), s.name()));
            Optional<ObjectInfo> part = whole.isPresent() ? Optional.empty()
                    : repository.store().stat(layout.walPartial(m.databaseId(), m.chain(), s.name()));
            if (whole.isEmpty() && part.isEmpty()) {
                return Optional.empty();
            }
            segments.add(whole.orElseGet(part::get));
            partial.add(whole.isEmpty());
        }
        Optional<ObjectInfo> history = m.timeline() > 1
                ? repository.store().stat(layout.timelineHistory(m.databaseId(), m.chain(), m.timeline())) : Optional.empty();
        return Optional.of(new Wal(segments, partial, history));
    }

    /** About how many bytes the archive has (its files and WAL, without the tar headers): for progress. */
    public static long approximateBytes(BackupManifest m, Wal wal) {
        return m.totalBytes() + (long) wal.segments().size() * m.walSegmentSize();
    }

    /** Writes the archive; bytes counts the file and WAL bytes as they go. Does not close out. */
    public void write(BackupManifest m, Wal wal, OutputStream out, LongConsumer bytes) throws IOException {
        BufferedOutputStream buffered = new BufferedOutputStream(new NonClosing(out), 256 * 1024);
        try {
            writeTar(m, wal, buffered, bytes);
        } catch (IOException | RuntimeException e) {
            // cut at an entry's end, what was sent would still read as a valid (shorter) tar: a block that is no tar
            // header makes every reader fail (tar: "Skipping to next header", exit 2), whatever else it is told
            try {
                buffered.flush();
                byte[] broken = new byte[512];
                java.util.Arrays.fill(broken, (byte) 0x7f);
                out.write(broken);
                out.flush();
            } catch (IOException | RuntimeException ignored) {
                // the receiver is gone: nothing more to tell it
            }
            throw e;
        }
    }

    private void writeTar(BackupManifest m, Wal wal, BufferedOutputStream buffered, LongConsumer bytes) throws IOException {
        TarArchiveOutputStream tar = new TarArchiveOutputStream(buffered, StandardCharsets.UTF_8.name());
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        tar.setAddPaxHeadersForNonAsciiNames(true);
        Set<String> directories = new HashSet<>();
        for (BackupManifest.FileEntry e : m.files()) {
            if (e.type() == BackupManifest.FileEntry.DIRECTORY
                    || e.type() == 'l' && DataDirectoryScan.isEmptiedDirectory(e.path())) {
                directory(tar, e.path(), e.type() == BackupManifest.FileEntry.DIRECTORY && e.mode() != 0 ? e.mode() : 0700, e.mtime());
                directories.add(e.path());
            }
        }
        for (String needed : List.of("pg_wal", "pg_wal/archive_status")) {
            if (directories.add(needed)) {
                directory(tar, needed, 0700, m.startTime());
            }
        }
        for (BackupManifest.FileEntry e : m.files()) {
            if (e.type() == 'l' && !DataDirectoryScan.isEmptiedDirectory(e.path())) {
                TarArchiveEntry link = new TarArchiveEntry(e.path(), TarConstants.LF_SYMLINK);
                link.setLinkName(e.linkTarget());
                link.setModTime(java.util.Date.from(e.mtime()));
                owner(link);
                tar.putArchiveEntry(link);
                tar.closeArchiveEntry();
            }
        }
        files(m, tar, bytes);
        if (m.files().stream().noneMatch(e -> e.path().equals(AUTO_CONF))) {
            small(tar, AUTO_CONF, inPlaceSetting(m), m.startTime());
        }
        small(tar, "backup_label", m.backupLabel().getBytes(StandardCharsets.UTF_8), m.startTime());
        byte[] buffer = new byte[256 * 1024];
        for (int i = 0; i < wal.segments().size(); i++) {
            ObjectInfo o = wal.segments().get(i);
            String name = o.key().substring(o.key().lastIndexOf('/') + 1, o.key().lastIndexOf('/') + 25);
            TarArchiveEntry entry = entry("pg_wal/" + name, m.walSegmentSize(), 0600, o.lastModified());
            tar.putArchiveEntry(entry);
            long written = 0;
            try (InputStream in = PartialSegment.openWal(repository, o.key())) {
                for (int n; (n = in.read(buffer)) > 0; ) {
                    if (written + n > m.walSegmentSize()) {
                        throw new IOException("WAL object " + o.key() + " is larger than a segment: the repository is damaged");
                    }
                    tar.write(buffer, 0, n);
                    written += n;
                    bytes.accept(n);
                }
            }
            if (written < m.walSegmentSize() && !wal.partial().get(i)) {
                throw new IOException("WAL segment " + o.key() + " holds " + written + " bytes, not a whole segment: the repository is damaged");
            }
            java.util.Arrays.fill(buffer, (byte) 0);
            for (long left = m.walSegmentSize() - written; left > 0; ) { // a partial segment, padded as a restore pads it
                int n = (int) Math.min(buffer.length, left);
                tar.write(buffer, 0, n);
                left -= n;
                bytes.accept(n);
            }
            tar.closeArchiveEntry();
        }
        if (wal.history().isPresent()) {
            ObjectInfo h = wal.history().get();
            try (InputStream in = repository.openDecoded(h.key())) {
                small(tar, "pg_wal/" + h.key().substring(h.key().lastIndexOf('/') + 1), in.readAllBytes(), h.lastModified());
            }
        }
        tar.close(); // the end-of-archive blocks and the last record; out itself stays open (NonClosing)
    }

    /**
     * The backup's files in the order of their objects (each object read once, front to back); a file kept in pieces is
     * written whole when its first piece comes, reading its other pieces from their own objects.
     */
    private void files(BackupManifest m, TarArchiveOutputStream tar, LongConsumer bytes) throws IOException {
        List<BackupManifest.FileEntry> files = m.files().stream().filter(e -> e.type() == BackupManifest.FileEntry.FILE).toList();
        Map<String, List<BackupManifest.FileEntry>> pieces = files.stream()
                .collect(Collectors.groupingBy(BackupManifest.FileEntry::path, HashMap::new, Collectors.toList()));
        pieces.values().removeIf(list -> list.size() < 2);
        pieces.values().forEach(list -> list.sort(Comparator.comparingLong(BackupManifest.FileEntry::fileOffset)));
        Map<Integer, List<BackupManifest.FileEntry>> byObject = files.stream()
                .collect(Collectors.groupingBy(BackupManifest.FileEntry::object, TreeMap::new, Collectors.toList()));
        Map<Integer, BackupManifest.BundleObject> objects = m.objects().stream()
                .collect(Collectors.toMap(BackupManifest.BundleObject::number, o -> o));
        byte[] buffer = new byte[256 * 1024];
        for (Map.Entry<Integer, List<BackupManifest.FileEntry>> group : byObject.entrySet()) {
            List<BackupManifest.FileEntry> entries = new ArrayList<>(group.getValue());
            entries.removeIf(e -> pieces.containsKey(e.path()) && e.fileOffset() != 0);
            if (entries.isEmpty()) {
                continue; // a later piece of a file: written with its first
            }
            entries.sort(Comparator.comparingLong(BackupManifest.FileEntry::offset));
            BackupManifest.BundleObject object = object(objects, group.getKey());
            try (InputStream in = repository.openDecoded(object.key())) {
                long position = 0;
                for (BackupManifest.FileEntry e : entries) {
                    in.skipNBytes(e.offset() - position);
                    List<BackupManifest.FileEntry> parts = pieces.get(e.path());
                    if (parts == null && e.path().equals(AUTO_CONF)) {
                        java.io.ByteArrayOutputStream conf = new java.io.ByteArrayOutputStream();
                        e.copyChecked(in, conf, object.key(), buffer, bytes);
                        conf.writeBytes(inPlaceSetting(m));
                        tar.putArchiveEntry(entry(e.path(), conf.size(), e.mode(), e.mtime()));
                        conf.writeTo(tar);
                        tar.closeArchiveEntry();
                        position = e.offset() + e.size();
                        continue;
                    }
                    long size = parts == null ? e.size() : parts.stream().mapToLong(BackupManifest.FileEntry::size).sum();
                    tar.putArchiveEntry(entry(e.path(), size, e.mode(), e.mtime()));
                    e.copyChecked(in, tar, object.key(), buffer, bytes);
                    position = e.offset() + e.size();
                    if (parts != null) {
                        for (BackupManifest.FileEntry piece : parts.subList(1, parts.size())) {
                            BackupManifest.BundleObject other = object(objects, piece.object());
                            try (InputStream pieceIn = repository.openDecoded(other.key())) {
                                pieceIn.skipNBytes(piece.offset());
                                piece.copyChecked(pieceIn, tar, other.key(), buffer, bytes);
                            }
                        }
                    }
                    tar.closeArchiveEntry();
                }
            }
        }
    }

    /**
     * The lines the archive adds to postgresql.auto.conf: archiving off (the copy continues the source's timeline), and
     * allow_in_place_tablespaces on where it has tablespaces (PostgreSQL 15 and later refuse to end a recovery with
     * directories in pg_tblspc without it).
     */
    private static byte[] inPlaceSetting(BackupManifest m) {
        StringBuilder lines = new StringBuilder("\n# added by Tidemark to this downloaded copy of base backup " + m.backupId() + ":\n"
                + "# it continues the source's timeline, so archiving would put WAL under the source's names into its archive\n"
                + "archive_mode = off\n");
        if (!m.tablespaces().isEmpty() && m.serverVersionNum() >= 150000) {
            lines.append("# its tablespaces are directories inside pg_tblspc (in-place tablespaces)\n")
                    .append("allow_in_place_tablespaces = on\n");
        }
        return lines.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static BackupManifest.BundleObject object(Map<Integer, BackupManifest.BundleObject> objects, int number) throws IOException {
        BackupManifest.BundleObject o = objects.get(number);
        if (o == null) {
            throw new IOException("the manifest names object " + number + " but does not list it: the backup is damaged");
        }
        return o;
    }

    private static void directory(TarArchiveOutputStream tar, String path, int mode, Instant mtime) throws IOException {
        TarArchiveEntry d = new TarArchiveEntry(path + "/", TarConstants.LF_DIR);
        d.setMode(TarArchiveEntry.DEFAULT_DIR_MODE & ~0777 | mode & 07777);
        d.setModTime(java.util.Date.from(mtime));
        owner(d);
        tar.putArchiveEntry(d);
        tar.closeArchiveEntry();
    }

    private static void small(TarArchiveOutputStream tar, String path, byte[] content, Instant mtime) throws IOException {
        tar.putArchiveEntry(entry(path, content.length, 0600, mtime));
        tar.write(content);
        tar.closeArchiveEntry();
    }

    private static TarArchiveEntry entry(String path, long size, int mode, Instant mtime) {
        TarArchiveEntry e = new TarArchiveEntry(path, TarConstants.LF_NORMAL);
        e.setSize(size);
        e.setMode(TarArchiveEntry.DEFAULT_FILE_MODE & ~0777 | (mode == 0 ? 0600 : mode & 07777));
        e.setModTime(java.util.Date.from(mtime == null ? Instant.EPOCH : mtime));
        owner(e);
        return e;
    }

    /** Owned by "postgres": extracted by root, GNU tar gives the files to the local postgres user when there is one. */
    private static void owner(TarArchiveEntry e) {
        e.setUserName("postgres");
        e.setGroupName("postgres");
    }

    /** Lets the tar stream finish without closing the response it writes to (the caller owns that). */
    private static final class NonClosing extends java.io.FilterOutputStream {
        NonClosing(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
