package dev.tidemark.storage;

import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.codec.ObjectTamperedException;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.file.Path;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A partial segment read with its pieces: the partial object, then each piece that continues it, never past a gap. */
class PartialSegmentTest {
    private static final String CHAIN = "7301234567890123456-15";
    private static final String SEGMENT = "000000010000000000000003";

    @Test
    void joinsThePiecesThatContinueThePartialObject(@TempDir Path dir) throws Exception {
        Repository repo = new Repository(new FileObjectStore(dir), new RepositoryLayout(""),
                new Codec(CodecSettings.defaults(MasterKey.generate())));
        byte[] wal = new byte[100];
        for (int i = 0; i < wal.length; i++) {
            wal[i] = (byte) i;
        }
        RepositoryLayout layout = repo.layout();
        String partial = layout.walPartial("db", CHAIN, SEGMENT);
        repo.putEncoded(partial, new ByteArrayInputStream(wal, 0, 10));
        put(repo, wal, 10, 20);
        put(repo, wal, 20, 35);
        put(repo, wal, 15, 30); // inside what the others hold: skipped
        put(repo, wal, 30, 40); // overlaps the end: its new bytes are read
        put(repo, wal, 50, 60); // after a gap: not read
        try (InputStream in = PartialSegment.openWal(repo, partial)) {
            assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOf(wal, 40));
        }
        assertThat(PartialSegment.pieces(repo.store(), partial)).hasSize(5);
        // a whole segment is read as stored, its pieces (if any are left) aside
        String whole = layout.walSegment("db", CHAIN, SEGMENT);
        repo.putEncoded(whole, new ByteArrayInputStream(wal));
        try (InputStream in = PartialSegment.openWal(repo, whole)) {
            assertThat(in.readAllBytes()).isEqualTo(wal);
        }
        assertThat(PartialSegment.piece(layout.walPartialPiece("db", CHAIN, SEGMENT, 16, 4096)))
                .hasValueSatisfying(p -> assertThat(p.segment() + " " + p.start() + " " + p.end()).isEqualTo(SEGMENT + " 16 4096"));
        assertThat(PartialSegment.piece(partial)).isEmpty();
    }

    @Test
    void readsThePiecesAppendedToOneObjectUpToATornTail(@TempDir Path dir) throws Exception {
        Repository repo = new Repository(new FileObjectStore(dir), new RepositoryLayout(""),
                new Codec(CodecSettings.defaults(MasterKey.generate())));
        byte[] wal = new byte[200];
        for (int i = 0; i < wal.length; i++) {
            wal[i] = (byte) i;
        }
        RepositoryLayout layout = repo.layout();
        String partial = layout.walPartial("db", CHAIN, SEGMENT);
        String appended = layout.walPartialAppended("db", CHAIN, SEGMENT);
        repo.putEncoded(partial, new ByteArrayInputStream(wal, 0, 10));
        put(repo, wal, 10, 20); // a piece of its own (an earlier version, or written beside): read with the appended ones
        try (Appender appender = repo.store().appender(appended).orElseThrow()) {
            AppendedPieces.append(appender, repo.codec(), SEGMENT, 20, wal, 20, 30);
            AppendedPieces.append(appender, repo.codec(), SEGMENT, 50, wal, 50, 40);
            AppendedPieces.append(appender, repo.codec(), SEGMENT, 90, wal, 90, 60);
        }
        assertThat(AppendedPieces.is(appended)).isTrue();
        assertThat(PartialSegment.following(repo.store(), partial)).hasSize(2);
        try (InputStream in = PartialSegment.openWal(repo, partial)) {
            assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOf(wal, 150));
        }
        // a crash during the last append: its record cut short (the file ending in it, or zeros after it where the file
        // system extended the file but never wrote the blocks)
        Path file = dir.resolve(appended);
        byte[] bytes = Files.readAllBytes(file);
        int lastEnd = recordEnds(bytes).get(2);
        int lastStart = recordEnds(bytes).get(1);
        int cut = (lastStart + lastEnd) / 2;
        Files.write(file, Arrays.copyOf(Arrays.copyOf(bytes, cut), bytes.length));
        try (InputStream in = PartialSegment.openWal(repo, partial)) {
            assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOf(wal, 90));
        }
        Files.write(file, Arrays.copyOf(bytes, cut));
        try (InputStream in = PartialSegment.openWal(repo, partial)) {
            assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOf(wal, 90));
        }
        Files.write(file, Arrays.copyOf(bytes, lastStart + 2)); // torn inside the length
        try (InputStream in = PartialSegment.openWal(repo, partial)) {
            assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOf(wal, 90));
        }
        // a record altered in the middle while a later one is whole: damage, said so, not a torn tail
        byte[] damaged = bytes.clone();
        damaged[lastStart - 5] ^= 1;
        Files.write(file, damaged);
        assertThatThrownBy(() -> PartialSegment.openWal(repo, partial).readAllBytes()).isInstanceOf(ObjectTamperedException.class)
                .hasMessageContaining("damaged");
        // the records say which segment and offsets they hold, under the codec's authentication: another segment's are not read
        String other = layout.walPartialAppended("db", CHAIN, "000000010000000000000004");
        Files.write(dir.resolve(other), bytes);
        assertThat(AppendedPieces.read(repo, other)).isEmpty();
        assertThat(AppendedPieces.keys(repo.store(), appended)).containsExactly(repo.codec().settings().key().fingerprint());
    }

    /** Where each record of an object of appended pieces ends. */
    private static List<Integer> recordEnds(byte[] bytes) {
        List<Integer> ends = new ArrayList<>();
        int at = 0;
        while (at + 4 <= bytes.length) {
            int length = java.nio.ByteBuffer.wrap(bytes, at, 4).getInt();
            if (length <= 0) {
                break;
            }
            at += 4 + length;
            ends.add(at);
        }
        return ends;
    }

    private static void put(Repository repo, byte[] wal, int from, int to) throws Exception {
        repo.putEncoded(repo.layout().walPartialPiece("db", CHAIN, SEGMENT, from, to), new ByteArrayInputStream(wal, from, to - from));
    }
}
