package dev.tidemark.engine.basebackup;

import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.Compression;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.codec.Xxh64;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.zip.CRC32C;

/**
 * Gets the JIT to compile the JDK's AES-GCM, SHA-256 and CRC32C code, XXH64, the page checks and the codec's lz4 and
 * AES-GCM framing right after start, in the background. Until they are compiled by C2 they run without their CPU
 * instructions: measured here, AES-GCM over 68 MiB in 256 KiB chunks took 2.9 s cold and 0.06 s after 10,000 small
 * calls, and a first backup or restore after start (often the first thing asked of a restarted engine) makes only a
 * few hundred calls. The page checks see pages of each kind (judged, new, changed after the start), so that what is
 * compiled is not thrown away at the first page of another kind. A throw-away key (never the master key), 256 MiB
 * through the page checks and 64 MiB through the codec: about a second of one core. Another capability's warm-up (the
 * restore's WAL scan) runs after it on the same thread ({@link #startInBackground}).
 */
public final class Warmup {
    private static final Logger LOG = LoggerFactory.getLogger(Warmup.class);
    private static final int CALLS = 10_000;
    /** Read buffers of 256 KiB (as a backup's) through the page checks and XXH64: 256 MiB, about 0.1 s. */
    private static final int CHUNKS = 1_000;
    /** Read buffers through the codec, out and back: 64 MiB. */
    private static final int CODEC_CHUNKS = 256;
    /** ... as this many objects, one at a time. */
    private static final int CODEC_OBJECTS = 16;
    /** The start LSN the warm-up's pages are judged against (page 9 is later). */
    private static final long START_LSN = 0x0100_0000_0000_0000L;

    private Warmup() {
    }

    /** A warm-up of another capability's, run after this one's on the same thread; returns what it computed (a sink). */
    public interface Step {
        long run() throws IOException, InterruptedException;
    }

    /** This warm-up and then, on the same thread, what (named so in the log line), e.g. the restore's WAL scan. */
    public static void startInBackground(String what, Step then) {
        Thread t = new Thread(() -> {
            long t0 = System.nanoTime();
            try {
                run();
                long t1 = System.nanoTime();
                LOG.trace("warm-up result {}", then.run());
                LOG.info("AES-GCM, SHA-256, checksums and {} compiled in {} ms ({} ms for the latter)", what,
                        (System.nanoTime() - t0) / 1_000_000, (System.nanoTime() - t1) / 1_000_000);
            } catch (GeneralSecurityException | IOException | RuntimeException e) {
                LOG.debug("warm-up skipped: {}", e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "tidemark-warmup");
        t.setDaemon(true);
        t.start();
    }

    static void run() throws GeneralSecurityException {
        SecureRandom random = new SecureRandom();
        byte[] raw = new byte[32];
        random.nextBytes(raw);
        SecretKey key = new SecretKeySpec(raw, "AES");
        byte[] data = new byte[4096];
        random.nextBytes(data);
        byte[] nonce = new byte[12];
        MessageDigest sha = Codec.sha256();
        MessageDigest xxh = new Xxh64();
        CRC32C crc = new CRC32C();
        long sink = 0;
        for (int i = 0; i < CALLS; i++) {
            nonce[0] = (byte) i;
            nonce[1] = (byte) (i >> 8);
            Cipher encrypt = Cipher.getInstance("AES/GCM/NoPadding");
            encrypt.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
            byte[] sealed = encrypt.doFinal(data);
            Cipher decrypt = Cipher.getInstance("AES/GCM/NoPadding");
            decrypt.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, nonce));
            sink += decrypt.doFinal(sealed).length;
            sha.update(data);
            xxh.update(data);
            crc.update(data);
        }
        // the page checks and XXH64 as a backup runs them: a read buffer of 32 pages at a time, each page verified
        // (a new page and one changed after the start among them, skipped as a backup skips them)
        byte[] chunk = pages(random);
        for (int i = 0; i < CHUNKS; i++) {
            sink += PageChecksum.verify(chunk, chunk.length, 0, START_LSN, (block, stored, computed) -> {
                throw new IllegalStateException("the warm-up's own page " + block + " does not verify");
            });
            xxh.update(chunk, 0, chunk.length);
        }
        // the object pipeline a backup writes and a restore reads through: lz4, AES-GCM chunks, in the codec's framing
        sink += codec(chunk);
        sink += sha.digest()[0] + xxh.digest()[0] + crc.getValue();
        LOG.trace("warm-up result {}", sink);
    }

    /**
     * 32 pages, each a quarter random (compressible as table pages are), with a header that makes them judged (not new,
     * LSN 0) and their right checksum; but page 5 is new (all zero) and page 9 changed after {@link #START_LSN}.
     */
    private static byte[] pages(SecureRandom random) {
        byte[] chunk = new byte[32 * PageChecksum.PAGE_SIZE];
        byte[] text = new byte[PageChecksum.PAGE_SIZE / 4];
        for (int off = 0, block = 0; off < chunk.length; off += PageChecksum.PAGE_SIZE, block++) {
            if (block == 5) {
                continue;
            }
            random.nextBytes(text);
            System.arraycopy(text, 0, chunk, off, text.length);
            java.util.Arrays.fill(chunk, off, off + 8, (byte) 0);   // pd_lsn 0/0: before the start
            if (block == 9) {
                chunk[off + 3] = 0x7F;                              // 7F000000/0: after it
            }
            chunk[off + 14] = 0x40;                                 // pd_upper non-zero: not a new page
            chunk[off + 15] = 0;
            int sum = PageChecksum.compute(chunk, off, block);
            chunk[off + 8] = (byte) sum;
            chunk[off + 9] = (byte) (sum >>> 8);
        }
        return chunk;
    }

    /**
     * 64 MiB of the chunk through an lz4 codec under a throw-away key and back, as 16 objects of 4 MiB (one buffer reused:
     * a few MiB of heap, not tens). Returns the bytes read back.
     */
    private static long codec(byte[] chunk) {
        try {
            Codec codec = new Codec(new CodecSettings(Compression.LZ4, 0, MasterKey.generate()));
            ByteArrayOutputStream stored = new ByteArrayOutputStream();
            byte[] buffer = new byte[chunk.length];
            long read = 0;
            for (int round = 0; round < CODEC_OBJECTS; round++) {
                stored.reset();
                try (OutputStream out = codec.encode(stored, "warm-up", false)) {
                    for (int i = 0; i < CODEC_CHUNKS / CODEC_OBJECTS; i++) {
                        out.write(chunk);
                    }
                }
                try (InputStream in = codec.decode(new ByteArrayInputStream(stored.toByteArray()), "warm-up")) {
                    for (int n; (n = in.read(buffer)) > 0; ) {
                        read += n;
                    }
                }
            }
            return read;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
