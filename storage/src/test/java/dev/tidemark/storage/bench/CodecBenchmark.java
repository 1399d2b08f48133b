package dev.tidemark.storage.bench;

import com.github.luben.zstd.Zstd;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.Compression;
import dev.tidemark.storage.codec.MasterKey;
import net.jpountz.lz4.LZ4FrameOutputStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Throughput of each codec stage and of the whole pipeline on 1 GiB of pgbench-like rows and of random bytes, beside
 * the command-line sha256sum, zstd and lz4 on the same bytes, single core. Not part of the test suite:
 * {@code ./mvnw -pl storage test -Dtest=CodecBenchmark -Dgroups=benchmark -Dtidemark.excluded.groups=none -Dsurefire.failIfNoSpecifiedTests=false}
 * (size with -Dbench.mib=1024). Results: docs/benchmarks.md.
 */
@Tag("benchmark")
class CodecBenchmark {
    private static final int MIB = Integer.getInteger("bench.mib", 1024);

    @Test
    void codecStagesAgainstTheCommandLine() throws Exception {
        Path dir = Files.createTempDirectory("tidemark-bench-");
        try {
            List<String> report = new ArrayList<>();
            report.add(String.format("| data | stage | Tidemark MiB/s | command line MiB/s | ratio |"));
            report.add("|---|---|---|---|---|");
            for (String kind : List.of("pgbench-like", "random")) {
                Path file = dir.resolve(kind);
                write(file, kind);
                byte[] data = Files.readAllBytes(file);
                report.add(row(kind, "SHA-256", best(() -> sha256(data)), cli("sha256sum " + file)));
                report.add(row(kind, "zstd -1", best(() -> zstd(data, 1)), cli("zstd -1 -q -c -T1 " + file + " > /dev/null")));
                report.add(row(kind, "zstd -3", best(() -> zstd(data, 3)), cli("zstd -3 -q -c -T1 " + file + " > /dev/null")));
                report.add(row(kind, "lz4", best(() -> lz4(data)), cli("lz4 -1 -q -c " + file + " > /dev/null")));
                report.add(row(kind, "AES-256-GCM (256 KiB chunks)", best(() -> gcm(data)), Double.NaN));
                report.add(row(kind, "whole pipeline (sha + zstd-3 + AES-GCM)", best(() -> pipeline(data)), Double.NaN));
                report.add(row(kind, "decoding it back (AES-GCM + zstd, no hash)", best(() -> decode(data)), Double.NaN));
                Files.delete(file);
            }
            System.out.println(String.join("\n", report));
        } finally {
            try (var s = Files.walk(dir)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @FunctionalInterface
    private interface Measure {
        double run() throws Exception;
    }

    /** The better of two runs: the first one pays for class loading and JIT compilation. */
    private static double best(Measure m) throws Exception {
        return Math.max(m.run(), m.run());
    }

    private static String row(String kind, String stage, double ours, double cli) {
        return String.format(Locale.ROOT, "| %s | %s | %.0f | %s | %s |", kind, stage, ours, Double.isNaN(cli) ? "-" : String.format(Locale.ROOT, "%.0f", cli),
                Double.isNaN(cli) ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * ours / cli));
    }

    /** pgbench_accounts-like text rows (aid, bid, abalance, filler), or random bytes. */
    private static void write(Path file, String kind) throws IOException {
        Random random = new Random(42);
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            long size = (long) MIB << 20;
            long written = 0;
            byte[] block = new byte[1 << 20];
            long aid = 1;
            while (written < size) {
                if (kind.equals("random")) {
                    random.nextBytes(block);
                    out.write(block);
                    written += block.length;
                } else {
                    byte[] row = (aid + "\t" + (aid / 100000 + 1) + "\t" + (random.nextInt(20000) - 10000) + "\t" + " ".repeat(84) + "\n")
                            .getBytes(StandardCharsets.US_ASCII);
                    out.write(row);
                    written += row.length;
                    aid++;
                }
            }
        }
    }

    private static double rate(long bytes, long nanos) {
        return (bytes / 1048576.0) / (nanos / 1e9);
    }

    private static double sha256(byte[] data) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        long t = System.nanoTime();
        for (int off = 0; off < data.length; off += 1 << 20) {
            d.update(data, off, Math.min(1 << 20, data.length - off));
        }
        d.digest();
        return rate(data.length, System.nanoTime() - t);
    }

    private static double zstd(byte[] data, int level) throws IOException {
        long t = System.nanoTime();
        try (OutputStream out = new com.github.luben.zstd.ZstdOutputStreamNoFinalizer(OutputStream.nullOutputStream(), level)) {
            out.write(data);
        }
        Zstd.defaultCompressionLevel();
        return rate(data.length, System.nanoTime() - t);
    }

    private static double lz4(byte[] data) throws IOException {
        long t = System.nanoTime();
        try (OutputStream out = new LZ4FrameOutputStream(OutputStream.nullOutputStream(), LZ4FrameOutputStream.BLOCKSIZE.SIZE_4MB)) {
            out.write(data);
        }
        return rate(data.length, System.nanoTime() - t);
    }

    private static double gcm(byte[] data) throws Exception {
        SecretKeySpec key = new SecretKeySpec(new byte[32], "AES");
        byte[] out = new byte[256 * 1024 + 16];
        long t = System.nanoTime();
        long chunk = 0;
        for (int off = 0; off < data.length; off += 256 * 1024) {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, java.nio.ByteBuffer.allocate(12).putLong(4, chunk++).array()));
            c.doFinal(data, off, Math.min(256 * 1024, data.length - off), out, 0);
        }
        return rate(data.length, System.nanoTime() - t);
    }

    private static double pipeline(byte[] data) throws IOException {
        Codec codec = new Codec(new CodecSettings(Compression.ZSTD, 3, MasterKey.generate()));
        long t = System.nanoTime();
        try (Codec.EncodingStream out = codec.encode(OutputStream.nullOutputStream(), "bench")) {
            for (int off = 0; off < data.length; off += 1 << 20) {
                out.write(data, off, Math.min(1 << 20, data.length - off));
            }
        }
        return rate(data.length, System.nanoTime() - t);
    }

    private static double decode(byte[] data) throws IOException {
        Codec codec = new Codec(new CodecSettings(Compression.ZSTD, 3, MasterKey.generate()));
        java.io.ByteArrayOutputStream stored = new java.io.ByteArrayOutputStream(data.length / 2);
        try (Codec.EncodingStream out = codec.encode(stored, "bench")) {
            out.write(data);
        }
        byte[] bytes = stored.toByteArray();
        byte[] buffer = new byte[256 * 1024];
        long t = System.nanoTime();
        try (java.io.InputStream in = codec.decode(new java.io.ByteArrayInputStream(bytes), "bench")) {
            while (in.read(buffer) >= 0) {
                // drain
            }
        }
        return rate(data.length, System.nanoTime() - t);
    }

    /** The command's throughput on the file (wall time of one run; the file is in the page cache). */
    private static double cli(String command) throws Exception {
        long t = System.nanoTime();
        Process p = new ProcessBuilder("sh", "-c", command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() != 0) {
            return Double.NaN;
        }
        return rate((long) MIB << 20, System.nanoTime() - t);
    }
}
