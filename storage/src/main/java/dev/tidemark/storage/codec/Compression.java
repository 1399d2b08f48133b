package dev.tidemark.storage.codec;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4FrameInputStream;
import net.jpountz.lz4.LZ4FrameOutputStream;
import net.jpountz.xxhash.XXHash32;
import net.jpountz.xxhash.XXHashFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.Locale;

/** The compression algorithms an object can be stored with; the id is written into each object's header. */
public enum Compression {
    NONE(0), ZSTD(1), LZ4(2);

    private final int id;

    Compression(int id) {
        this.id = id;
    }

    public int id() {
        return id;
    }

    public static Compression byId(int id) throws CodecException {
        for (Compression c : values()) {
            if (c.id == id) {
                return c;
            }
        }
        throw new CodecException("unknown compression id " + id + " in object header: written by a newer Tidemark?");
    }

    /** Parses a configuration value: "zstd", "lz4" or "none". */
    public static Compression parse(String name) {
        for (Compression c : values()) {
            if (c.name().equalsIgnoreCase(name.trim())) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown compression '" + name + "': use one of "
                + Arrays.stream(values()).map(c -> c.name().toLowerCase(Locale.ROOT)).toList());
    }

    OutputStream compress(OutputStream out, int level) throws IOException {
        return switch (this) {
            case NONE -> out;
            case ZSTD -> new ZstdOutputStreamNoFinalizer(out, level);
            // blocks of the codec's chunk size: two 256 KiB buffers per open object instead of two of 4 MiB
            case LZ4 -> new LZ4FrameOutputStream(out, LZ4FrameOutputStream.BLOCKSIZE.SIZE_256KB, -1L,
                    Lz4.FACTORY.fastCompressor(), Lz4.HASH, LZ4FrameOutputStream.FLG.Bits.BLOCK_INDEPENDENCE);
        };
    }

    InputStream decompress(InputStream in) throws IOException {
        return switch (this) {
            case NONE -> in;
            case ZSTD -> new ZstdInputStreamNoFinalizer(in);
            case LZ4 -> new LZ4FrameInputStream(in, Lz4.FACTORY.safeDecompressor(), Lz4.HASH);
        };
    }

    /**
     * lz4-java's frame streams pick its pure-Java compressor unless told otherwise (about a third of the native
     * speed); the native library ships in the jar for the common platforms, and where it cannot load the factory
     * falls back to Java. Loaded on first use, so a zstd-only engine never loads it.
     */
    private static final class Lz4 {
        static final LZ4Factory FACTORY = LZ4Factory.fastestInstance();
        static final XXHash32 HASH = XXHashFactory.fastestInstance().hash32();
    }
}
