package dev.tidemark.storage;

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
 * first bytes) and, in synchronous mode, the pieces appended after it ({@code {segment}.partial.{start}-{end}}, offsets
 * in hex). Its bytes are the partial object's, then those of each piece that continues them, in order; a piece that
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

    /** The segment's bytes: the partial object partialKey decoded, then the pieces (any order) that continue it. */
    public static InputStream open(Repository repository, String partialKey, List<Piece> pieces) throws IOException {
        List<Piece> sorted = new ArrayList<>(pieces);
        sorted.sort(Comparator.comparingLong(Piece::start));
        return new Joined(repository, repository.openDecoded(partialKey), sorted);
    }

    /** The segment's bytes with the pieces as the store lists them now. */
    public static InputStream open(Repository repository, String partialKey) throws IOException {
        return open(repository, partialKey, pieces(repository.store(), partialKey));
    }

    /** A WAL object's bytes: a whole segment (or any other object) as stored, a partial segment with its pieces. */
    public static InputStream openWal(Repository repository, String key) throws IOException {
        return key.endsWith(".partial") ? open(repository, key) : repository.openDecoded(key);
    }

    /** Reads the partial object, then each piece that continues where the bytes so far end. */
    private static final class Joined extends InputStream {
        private final Repository repository;
        private final List<Piece> pieces;
        private InputStream current;
        private long position;
        private int next;

        Joined(Repository repository, InputStream first, List<Piece> pieces) {
            this.repository = repository;
            this.current = first;
            this.pieces = pieces;
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

        /** The piece that continues at position (skipping what the bytes so far hold of it), or null. */
        private InputStream following() throws IOException {
            while (next < pieces.size()) {
                Piece p = pieces.get(next++);
                if (p.start() > position) {
                    return null; // a gap: what follows it cannot be replayed
                }
                if (p.end() > position) {
                    InputStream in = repository.openDecoded(p.key());
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
