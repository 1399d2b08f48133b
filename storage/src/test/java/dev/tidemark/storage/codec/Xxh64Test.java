package dev.tidemark.storage.codec;

import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** XXH64 as a MessageDigest: the published value, and every length and split (byte, array, buffer updates) equal to lz4-java's one-shot hash. */
class Xxh64Test {
    private static final XXHash64 REFERENCE = XXHashFactory.safeInstance().hash64();

    @Test
    void knownValues() {
        assertThat(hex(new Xxh64().digest())).isEqualTo("ef46db3751d8e999"); // XXH64 of nothing, seed 0
        byte[] abc = "abc".getBytes(StandardCharsets.US_ASCII);
        assertThat(hex(new Xxh64().digest(abc))).isEqualTo("44bc2cf5ad770999") // the published XXH64 of "abc"
                .isEqualTo(String.format("%016x", REFERENCE.hash(abc, 0, 3, 0)));
        assertThat(new Xxh64().getDigestLength()).isEqualTo(8);
        assertThat(new Xxh64().getAlgorithm()).isEqualTo("XXH64");
    }

    @Test
    void everyLengthAndSplitMatchesTheReference() {
        Random random = new Random(42);
        byte[] data = new byte[3 * 1024 * 1024 + 77];
        random.nextBytes(data);
        for (int length = 0; length <= 200; length++) {
            assertThat(hex(new Xxh64().digest(java.util.Arrays.copyOf(data, length)))).as("length %d", length)
                    .isEqualTo(String.format("%016x", REFERENCE.hash(data, 0, length, 0)));
        }
        // streamed in pieces of every awkward size, through the byte, array and buffer updates; reused after a digest
        MessageDigest streamed = new Xxh64();
        for (int round = 0; round < 3; round++) {
            int at = 0;
            while (at < data.length) {
                int n = Math.min(data.length - at, random.nextInt(70_000));
                switch (random.nextInt(3)) {
                    case 0 -> streamed.update(data, at, n);
                    case 1 -> streamed.update(ByteBuffer.wrap(data, at, n));
                    default -> {
                        n = Math.min(n, 5);
                        for (int i = 0; i < n; i++) {
                            streamed.update(data[at + i]);
                        }
                    }
                }
                at += n;
            }
            assertThat(hex(streamed.digest())).isEqualTo(String.format("%016x", REFERENCE.hash(data, 0, data.length, 0)));
        }
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
