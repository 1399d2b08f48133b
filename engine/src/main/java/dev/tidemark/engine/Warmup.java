package dev.tidemark.engine;

import dev.tidemark.engine.basebackup.PageChecksum;
import dev.tidemark.storage.codec.Codec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.SplittableRandom;

/**
 * Runs the backup and restore pipeline once over synthetic pages right after start, in the background, so that the
 * JIT has compiled it (and the AES-GCM, SHA-256 and checksum loops use their CPU instructions) before the first real
 * backup or restore. A restore is often the first thing asked of a freshly started engine; measured on 2 cores, the
 * first backup of 1.5 GiB spent a quarter of its CPU in the compiler and ran GCM in the interpreter without it.
 */
final class Warmup {
    private static final Logger LOG = LoggerFactory.getLogger(Warmup.class);
    private static final int PAGES = 4096; // 32 MiB

    private Warmup() {
    }

    static void startInBackground(Codec codec) {
        Thread t = new Thread(() -> {
            long t0 = System.nanoTime();
            try {
                run(codec);
                LOG.info("pipeline warmed up in {} ms (compiled before the first backup or restore)", (System.nanoTime() - t0) / 1_000_000);
            } catch (IOException | RuntimeException e) {
                LOG.debug("warm-up skipped: {}", e.toString());
            }
        }, "tidemark-warmup");
        t.setDaemon(true);
        t.setPriority(Thread.MIN_PRIORITY);
        t.start();
    }

    static void run(Codec codec) throws IOException {
        byte[] data = pages();
        MessageDigest sha = Codec.sha256();
        int checksums = 0;
        for (int round = 0; round < 3; round++) {
            ByteArrayOutputStream stored = new ByteArrayOutputStream(data.length / 8);
            try (Codec.EncodingStream out = codec.encode(stored, "warm-up")) {
                for (int off = 0; off < data.length; off += 256 * 1024) {
                    int n = Math.min(256 * 1024, data.length - off);
                    sha.update(data, off, n);
                    out.write(data, off, n);
                }
            }
            ByteBuffer all = ByteBuffer.wrap(data);
            for (int p = 0; p < PAGES; p++) {
                ByteBuffer page = all.duplicate();
                page.position(p * PageChecksum.PAGE_SIZE);
                checksums += PageChecksum.compute(page, p);
            }
            byte[] buffer = new byte[256 * 1024];
            try (InputStream in = codec.decode(new ByteArrayInputStream(stored.toByteArray()), "warm-up")) {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    sha.update(buffer, 0, n);
                }
            }
        }
        LOG.trace("warm-up: page checksums {}, digest {}", checksums, sha.digest().length);
    }

    /** Pages that compress about as well as table data: rows of text and numbers with some noise. */
    private static byte[] pages() {
        byte[] data = new byte[PAGES * PageChecksum.PAGE_SIZE];
        SplittableRandom random = new SplittableRandom(7);
        int at = 0;
        long row = 0;
        while (at < data.length) {
            byte[] line = ("|" + row++ + "|" + random.nextInt(100_000) + "|account " + (row % 977) + "|          ")
                    .getBytes(StandardCharsets.US_ASCII);
            int n = Math.min(line.length, data.length - at);
            System.arraycopy(line, 0, data, at, n);
            at += n;
        }
        return data;
    }
}
