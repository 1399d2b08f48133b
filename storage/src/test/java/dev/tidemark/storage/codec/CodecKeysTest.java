package dev.tidemark.storage.codec;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Master keys and the object format versions: version 1 objects (written by the release before key rotation, kept as
 * fixtures under codec-v1/) still read; version 2 objects get their data key wrapped anew with every byte after the
 * header unchanged; reading picks among the configured and previous keys by fingerprint.
 */
class CodecKeysTest {
    private static final MasterKey A = MasterKey.generate();
    private static final MasterKey B = MasterKey.generate();
    private static final int HEADER = Codec.MAX_HEADER;

    /** The content of the fixtures: as CodecTest's, compressible but not trivially. */
    private static byte[] content(int size) {
        byte[] bytes = new byte[size];
        Random random = new Random(size);
        for (int i = 0; i < size; i++) {
            bytes[i] = (byte) (i % 7 == 0 ? random.nextInt() : i / 1000);
        }
        return bytes;
    }

    private static byte[] encode(Codec codec, byte[] plain) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Codec.EncodingStream encoding = codec.encode(out, "test")) {
            encoding.write(plain);
        }
        return out.toByteArray();
    }

    private static byte[] decode(Codec codec, byte[] stored) throws IOException {
        try (InputStream in = codec.decode(new ByteArrayInputStream(stored), "test")) {
            return in.readAllBytes();
        }
    }

    private static byte[] rewrap(Codec codec, byte[] stored, Codec.Rewrap expected) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertThat(codec.rewrap(new ByteArrayInputStream(stored), out, "test")).isEqualTo(expected);
        return out.toByteArray();
    }

    private static Codec rotating(MasterKey to, MasterKey... from) {
        return new Codec(CodecSettings.defaults(to).withPreviousKeys(List.of(from)));
    }

    /** The fixtures' key, copied to a file only its owner may read (a checked-out file is world-readable). */
    private static MasterKey fixtureKey(Path dir) throws IOException {
        Path file = dir.resolve("master.key");
        try (InputStream in = CodecKeysTest.class.getResourceAsStream("/codec-v1/master.key")) {
            Files.write(file, in.readAllBytes());
        }
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        return MasterKey.load(file);
    }

    private static byte[] fixture(String name) throws IOException {
        try (InputStream in = CodecKeysTest.class.getResourceAsStream("/codec-v1/" + name)) {
            return in.readAllBytes();
        }
    }

    @Test
    void version1ObjectsOfTheLastReleaseStillRead(@TempDir Path dir) throws IOException {
        MasterKey old = fixtureKey(dir);
        for (String name : new String[]{"none-300000.v1", "zstd-300000.v1"}) {
            byte[] stored = fixture(name);
            assertThat(stored[4]).as(name).isEqualTo((byte) 1);
            assertThat(decode(new Codec(CodecSettings.defaults(old)), stored)).as(name).isEqualTo(content(300_000));
            // as a previous key during a rotation, too
            assertThat(decode(rotating(A, old), stored)).as(name).isEqualTo(content(300_000));
        }
    }

    @Test
    void newObjectsAreVersion2AndNameTheirKeyWithoutAnyKey() throws IOException {
        byte[] stored = encode(new Codec(CodecSettings.defaults(A)), content(1000));
        assertThat(stored[4]).isEqualTo((byte) 2);
        assertThat(Codec.keyFingerprint(new ByteArrayInputStream(stored, 0, HEADER), "test")).isEqualTo(A.fingerprint());
        byte[] clear = encode(new Codec(new CodecSettings(Compression.ZSTD, 3, null)), content(1000));
        assertThat(Codec.keyFingerprint(new ByteArrayInputStream(clear), "test")).isNull();
    }

    @Test
    void rewrappingReplacesTheHeaderAndKeepsEveryFrameByteForByte() throws IOException {
        byte[] plain = content(3 * 1024 * 1024 + 17);
        byte[] underA = encode(new Codec(CodecSettings.defaults(A)), plain);
        byte[] underB = rewrap(rotating(B, A), underA, Codec.Rewrap.REWRAPPED);

        assertThat(underB).hasSameSizeAs(underA);
        assertThat(Arrays.copyOfRange(underB, HEADER, underB.length)).isEqualTo(Arrays.copyOfRange(underA, HEADER, underA.length));
        assertThat(Arrays.copyOf(underB, 7)).isEqualTo(Arrays.copyOf(underA, 7));
        assertThat(Codec.keyFingerprint(new ByteArrayInputStream(underB), "test")).isEqualTo(B.fingerprint());
        // after the rotation only the new key is needed; the old one alone no longer reads it
        assertThat(decode(new Codec(CodecSettings.defaults(B)), underB)).isEqualTo(plain);
        assertThatThrownBy(() -> decode(new Codec(CodecSettings.defaults(A)), underB)).isInstanceOf(WrongKeyException.class)
                .hasMessageContaining(B.fingerprint());
    }

    @Test
    void aVersion1ObjectIsEncryptedAgainUnderANewDataKeyKeepingItsCompression(@TempDir Path dir) throws IOException {
        MasterKey old = fixtureKey(dir);
        for (String name : new String[]{"none-300000.v1", "zstd-300000.v1"}) {
            byte[] v1 = fixture(name);
            byte[] v2 = rewrap(rotating(B, old), v1, Codec.Rewrap.REENCRYPTED);
            assertThat(v2[4]).as(name).isEqualTo((byte) 2);
            assertThat(v2[5]).as("compression of %s", name).isEqualTo(v1[5]);
            assertThat(decode(new Codec(CodecSettings.defaults(B)), v2)).as(name).isEqualTo(content(300_000));
            // and then it is an ordinary version 2 object: the next rotation only re-wraps it
            byte[] again = rewrap(rotating(A, B), v2, Codec.Rewrap.REWRAPPED);
            assertThat(decode(new Codec(CodecSettings.defaults(A)), again)).as(name).isEqualTo(content(300_000));
        }
    }

    @Test
    void duringARotationBothKeysReadAndNewObjectsGoUnderTheNewKey() throws IOException {
        Codec codec = rotating(B, A);
        byte[] underA = encode(new Codec(CodecSettings.defaults(A)), content(5000));
        byte[] written = encode(codec, content(6000));
        assertThat(decode(codec, underA)).isEqualTo(content(5000));
        assertThat(decode(codec, written)).isEqualTo(content(6000));
        assertThat(Codec.keyFingerprint(new ByteArrayInputStream(written), "test")).isEqualTo(B.fingerprint());
    }

    @Test
    void anObjectUnderNeitherKeyNamesTheKeyItNeedsAndTheConfiguredOnes() throws IOException {
        MasterKey other = MasterKey.generate();
        byte[] stored = encode(new Codec(CodecSettings.defaults(other)), content(1000));
        assertThatThrownBy(() -> decode(rotating(B, A), stored)).isInstanceOf(WrongKeyException.class)
                .hasMessageContaining("encrypted with master key " + other.fingerprint())
                .hasMessageContaining("configured key is " + B.fingerprint()).hasMessageContaining(A.fingerprint());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertThatThrownBy(() -> rotating(B, A).rewrap(new ByteArrayInputStream(stored), out, "test"))
                .isInstanceOf(WrongKeyException.class);
    }

    @Test
    void anotherObjectsWrappedKeyFailsEveryChunk() throws IOException {
        Codec codec = new Codec(CodecSettings.defaults(A));
        byte[] x = encode(codec, content(1000));
        byte[] y = encode(codec, content(2000));
        byte[] spliced = Arrays.copyOf(x, HEADER + (y.length - HEADER));
        System.arraycopy(y, HEADER, spliced, HEADER, y.length - HEADER);
        assertThatThrownBy(() -> decode(codec, spliced)).isInstanceOf(ObjectTamperedException.class)
                .hasMessageContaining("fails authentication");
        // and a flipped byte in the wrap fails the wrap's own tag
        byte[] flipped = x.clone();
        flipped[HEADER - 5] ^= 1;
        assertThatThrownBy(() -> decode(codec, flipped)).isInstanceOf(ObjectTamperedException.class)
                .hasMessageContaining("wrapped data key");
        // the compression id is bound by the chunks
        byte[] recompressed = x.clone();
        recompressed[5] = (byte) Compression.LZ4.id();
        assertThatThrownBy(() -> decode(codec, recompressed)).isInstanceOf(CodecException.class);
    }
}
