package dev.tidemark.storage;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A WAL segment being written, as the repository holds it: the partial-segment object ({@code {segment}.partial}, its
 * first bytes) and, in synchronous mode, the pieces appended after it: objects of their own
 * ({@code {segment}.partial.{start}-{end}}, offsets in hex), or, where the store can grow an object in place, records of
 * one object ({@code {segment}.partial.appended}, see {@link AppendedPieces}). Its bytes are the partial object's, then those of each piece that continues them, in order; a piece that
 * starts beyond what the ones before reach, or lies inside it, is not read (left over from an earlier stream).
 */
public final class PartialSegment {
    /** A piece's name: the segment, then its first and end offsets. */
    public static final Pattern PIECE = Pattern.compile("([0-9A-F]{24})\\.partial\\.([0-9A-F]{8})-([0-9A-F]{8})");

    private PartialSegment() {
    }

    /** The piece a key names, or empty when it names none. */
    public static Optional<Piece> piece(String key) {
        Matcher m = PIECE.matcher(key.substring(key.lastIndexOf('/') + 1));
        return m.matches() ? Optional.of(new Piece(key, m.group(1), Long.parseLong(m.group(2), 16), Long.parseLong(m.group(3), 16)))
                : Optional.empty();
    }

    /** One piece: key, the segment it belongs to, the offsets of its bytes in the segment. */
    public record Piece(String key, String segment, long start, long end) {
    }

    /** The pieces stored after the partial object partialKey, by first offset. */
    public static List<Piece> pieces(ObjectStore store, String partialKey) throws IOException {
        try (Stream<ObjectInfo> objects = store.list(partialKey + ".")) {
            return objects.map(o -> piece(o.key())).flatMap(Optional::stream).sorted(Comparator.comparingLong(Piece::start)).toList();
        }
    }

    /** The keys of every piece after the partial object partialKey: pieces of their own and the object of appended ones. */
    public static List<String> following(ObjectStore store, String partialKey) throws IOException {
        try (Stream<ObjectInfo> objects = store.list(partialKey + ".")) {
            return objects.map(ObjectInfo::key).filter(k -> piece(k).isPresent() || k.equals(partialKey + AppendedPieces.SUFFIX)).toList();
        }
    }

    /**
     * The segment's bytes with the pieces as the store holds them now: the partial object partialKey decoded, then the pieces
     * (stored as objects of their own, or appended to one object, see {@link AppendedPieces}) that continue it.
     */
    public static InputStream open(Repository repository, String partialKey) throws IOException {
        List<Part> parts = new ArrayList<>();
        boolean appended = false;
        try (Stream<ObjectInfo> objects = repository.store().list(partialKey + ".")) {
            for (ObjectInfo o : (Iterable<ObjectInfo>) objects::iterator) {
                Optional<Piece> p = piece(o.key());
                if (p.isPresent()) {
                    parts.add(new Part(p.get().start(), p.get().end(), () -> repository.openDecoded(p.get().key())));
                }
                appended |= o.key().equals(partialKey + AppendedPieces.SUFFIX);
            }
        }
        if (appended) {
            for (AppendedPieces.Record r : AppendedPieces.read(repository, partialKey + AppendedPieces.SUFFIX)) {
                parts.add(new Part(r.start(), r.end(), () -> new ByteArrayInputStream(r.bytes())));
            }
        }
        parts.sort(Comparator.comparingLong(Part::start));
        return new Joined(repository.openDecoded(partialKey), parts);
    }

    /** Bytes of the segment from start to end, opened when the reader reaches them. */
    private record Part(long start, long end, Opener opener) {
    }

    private interface Opener {
        InputStream open() throws IOException;
    }

    /** A WAL object's bytes: a whole segment (or any other object) as stored, a partial segment with its pieces. */
    public static InputStream openWal(Repository repository, String key) throws IOException {
        return key.endsWith(".partial") ? open(repository, key) : repository.openDecoded(key);
    }

    /** Reads the partial object, then each part that continues where the bytes so far end. */
    private static final class Joined extends InputStream {
        private final List<Part> parts;
        private InputStream current;
        private long position;
        private int next;

        Joined(InputStream first, List<Part> parts) {
            this.current = first;
            this.parts = parts;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xFF;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            while (current != null) {
                int n = current.read(b, off, len);
                if (n > 0) {
                    position += n;
                    return n;
                }
                current.close();
                current = following();
            }
            return -1;
        }

        /** The part that continues at position (skipping what the bytes so far hold of it), or null. */
        private InputStream following() throws IOException {
            while (next < parts.size()) {
                Part p = parts.get(next++);
                if (p.start() > position) {
                    return null; // a gap: what follows it cannot be replayed
                }
                if (p.end() > position) {
                    InputStream in = p.opener().open();
                    in.skipNBytes(position - p.start());
                    return in;
                }
            }
            return null;
        }

        @Override
        public void close() throws IOException {
            if (current != null) {
                current.close();
                current = null;
            }
        }
    }
}
