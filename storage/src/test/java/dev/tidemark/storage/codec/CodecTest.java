package dev.tidemark.storage.codec;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CodecTest {
    private static final MasterKey KEY = MasterKey.generate();

    static Stream<Arguments> settings() {
        return Stream.of(Compression.values()).flatMap(c -> Stream.of(
                Arguments.of(new CodecSettings(c, 3, KEY)), Arguments.of(new CodecSettings(c, 3, null))));
    }

    private static byte[] content(int size) {
        byte[] bytes = new byte[size];
        Random random = new Random(size);
        for (int i = 0; i < size; i++) {
            bytes[i] = (byte) (i % 7 == 0 ? random.nextInt() : i / 1000); // compressible, not trivially
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

    @ParameterizedTest
    @MethodSource("settings")
    void roundTripsEverySize(CodecSettings settings) throws Exception {
        Codec codec = new Codec(settings);
        for (int size : new int[]{0, 1, Codec.CHUNK - 1, Codec.CHUNK, Codec.CHUNK + 1, 3 * 1024 * 1024 + 17}) {
            byte[] plain = content(size);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Codec.EncodingStream encoding = codec.encode(out, "x");
            encoding.write(plain);
            encoding.close();
            assertThat(encoding.plainBytes()).isEqualTo(size);
            assertThat(encoding.encodedBytes()).isEqualTo(out.size());
            assertThat(encoding.sha256Hex()).isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(plain)));
            try (InputStream in = codec.decode(new ByteArrayInputStream(out.toByteArray()), "x", encoding.sha256Hex())) {
                assertThat(in.readAllBytes()).as("size %d", size).isEqualTo(plain);
            }
            ByteArrayOutputStream unhashed = new ByteArrayOutputStream();
            Codec.EncodingStream withoutHash = codec.encode(unhashed, "y", false);
            withoutHash.write(plain);
            withoutHash.close();
            assertThat(withoutHash.sha256Hex()).as("no plaintext hash asked for").isNull();
            try (InputStream in = codec.decode(new ByteArrayInputStream(unhashed.toByteArray()), "y")) {
                assertThat(in.readAllBytes()).as("size %d without the plaintext hash", size).isEqualTo(plain);
            }
        }
    }

    @Test
    void encryptedObjectsDoNotShowThePlaintext() throws IOException {
        byte[] plain = "secret customer row, secret customer row, secret customer row".repeat(100).getBytes(StandardCharsets.UTF_8);
        byte[] stored = encode(new Codec(new CodecSettings(Compression.NONE, 3, KEY)), plain);
        assertThat(new String(stored, StandardCharsets.ISO_8859_1)).doesNotContain("secret customer");
    }

    @Test
    void compressionShrinksCompressibleData() throws IOException {
        byte[] plain = content(4 * 1024 * 1024);
        assertThat(encode(new Codec(CodecSettings.defaults(KEY)), plain).length).isLessThan(plain.length / 2);
        assertThat(encode(new Codec(new CodecSettings(Compression.LZ4, 0, KEY)), plain).length).isLessThan(plain.length * 3 / 4);
    }

    @ParameterizedTest
    @MethodSource("settings")
    void aFlippedByteAnywhereIsDetected(CodecSettings settings) throws IOException {
        Codec codec = new Codec(settings);
        byte[] stored = encode(codec, content(600_000));
        for (int position : new int[]{10, 40, 100, stored.length / 2, stored.length - 3}) {
            byte[] damaged = stored.clone();
            damaged[position] ^= 0x10;
            assertThatThrownBy(() -> decode(codec, damaged)).as("flip at %d", position).isInstanceOf(CodecException.class);
        }
    }

    @ParameterizedTest
    @MethodSource("settings")
    void aTruncatedObjectIsDetected(CodecSettings settings) throws IOException {
        Codec codec = new Codec(settings);
        byte[] stored = encode(codec, content(600_000));
        for (int cut : new int[]{3, 50, stored.length / 2, stored.length - 1}) {
            byte[] shortened = Arrays.copyOf(stored, cut);
            assertThatThrownBy(() -> decode(codec, shortened)).as("cut at %d", cut).isInstanceOf(CodecException.class);
        }
        byte[] chunkBoundary = cutAtLastFrame(stored);
        assertThatThrownBy(() -> decode(codec, chunkBoundary)).isInstanceOf(ObjectTruncatedException.class);
        byte[] longer = Arrays.copyOf(stored, stored.length + 5);
        assertThatThrownBy(() -> decode(codec, longer)).isInstanceOf(ObjectTamperedException.class);
    }

    /** The object without its final frame: every remaining frame is intact. */
    private static byte[] cutAtLastFrame(byte[] stored) {
        int headerLength = stored[6] == 1 ? 7 + 8 + 12 + 48 : 7;
        int position = headerLength;
        int lastStart = position;
        while (position < stored.length) {
            lastStart = position;
            int word = java.nio.ByteBuffer.wrap(stored, position, 4).getInt();
            position += 4 + (word & 0x7fffffff);
        }
        return Arrays.copyOf(stored, lastStart);
    }

    @Test
    void theWrongKeyIsNamedAsSuch() throws IOException {
        byte[] stored = encode(new Codec(CodecSettings.defaults(KEY)), content(1000));
        MasterKey other = MasterKey.generate();
        assertThatThrownBy(() -> decode(new Codec(CodecSettings.defaults(other)), stored)).isInstanceOf(WrongKeyException.class)
                .hasMessageContaining(KEY.fingerprint()).hasMessageContaining(other.fingerprint());
        assertThatThrownBy(() -> decode(new Codec(new CodecSettings(Compression.ZSTD, 3, null)), stored))
                .isInstanceOf(WrongKeyException.class).hasMessageContaining("no master key");
    }

    @Test
    void anUnencryptedObjectIsRefusedWhereObjectsAreEncrypted() throws IOException {
        // whoever can write to the bucket could otherwise substitute content protected by a CRC only
        byte[] forged = encode(new Codec(new CodecSettings(Compression.ZSTD, 3, null)), content(1000));
        assertThatThrownBy(() -> decode(new Codec(CodecSettings.defaults(KEY)), forged)).isInstanceOf(ObjectTamperedException.class)
                .hasMessageContaining("is not encrypted, but this repository is");
        assertThat(decode(new Codec(new CodecSettings(Compression.ZSTD, 3, null)), forged)).isEqualTo(content(1000));
    }

    @Test
    void aDifferentChecksumFailsAtTheEnd() throws IOException {
        Codec codec = new Codec(CodecSettings.defaults(KEY));
        byte[] stored = encode(codec, content(1000));
        assertThatThrownBy(() -> {
            try (InputStream in = codec.decode(new ByteArrayInputStream(stored), "obj", "00".repeat(32))) {
                in.readAllBytes();
            }
        }).isInstanceOf(ChecksumMismatchException.class).hasMessageContaining("obj");
    }

    @Test
    void somethingElseIsNotMistakenForAnObject() {
        Codec codec = new Codec(CodecSettings.defaults(KEY));
        assertThatThrownBy(() -> decode(codec, "PGDMP plain dump".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CodecException.class).hasMessageContaining("not a Tidemark object");
    }

    @Test
    void aKeyFileRoundTripsWithOwnerOnlyPermissionsAndIsNeverOverwritten(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("keys/master.key");
        MasterKey key = MasterKey.generate();
        key.writeTo(file);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(MasterKey.load(file).fingerprint()).isEqualTo(key.fingerprint());
        assertThat(key.toString()).doesNotContain(Files.readString(file).trim());
        assertThatThrownBy(() -> MasterKey.generate().writeTo(file)).isInstanceOf(IOException.class);
        Files.writeString(dir.resolve("bad.key"), "not base64!");
        Files.setPosixFilePermissions(dir.resolve("bad.key"), PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(() -> MasterKey.load(dir.resolve("bad.key"))).hasMessageContaining("base64");
        assertThatThrownBy(() -> MasterKey.load(dir.resolve("missing.key"))).hasMessageContaining("does not exist");
    }

    @Test
    void aKeyFileOthersMayReadIsRefused(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("master.key");
        MasterKey.generate().writeTo(file);
        for (String lax : new String[]{"rw-r--r--", "rw-r-----", "rw----r--"}) {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(lax));
            assertThatThrownBy(() -> MasterKey.load(file)).as(lax).isInstanceOf(IOException.class)
                    .hasMessageContaining("has mode " + lax).hasMessageContaining("chmod 600 " + file);
        }
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("r--------"));
        assertThat(MasterKey.load(file)).isNotNull();
    }
}
