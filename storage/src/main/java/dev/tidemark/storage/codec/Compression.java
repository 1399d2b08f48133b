package dev.tidemark.storage.codec;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import net.jpountz.lz4.LZ4FrameInputStream;
import net.jpountz.lz4.LZ4FrameOutputStream;

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
            case LZ4 -> new LZ4FrameOutputStream(out, LZ4FrameOutputStream.BLOCKSIZE.SIZE_4MB);
        };
    }

    InputStream decompress(InputStream in) throws IOException {
        return switch (this) {
            case NONE -> in;
            case ZSTD -> new ZstdInputStreamNoFinalizer(in);
            case LZ4 -> new LZ4FrameInputStream(in);
        };
    }
}
