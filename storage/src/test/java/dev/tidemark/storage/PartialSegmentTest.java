package dev.tidemark.storage;

import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

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

    private static void put(Repository repo, byte[] wal, int from, int to) throws Exception {
        repo.putEncoded(repo.layout().walPartialPiece("db", CHAIN, SEGMENT, from, to), new ByteArrayInputStream(wal, from, to - from));
    }
}
