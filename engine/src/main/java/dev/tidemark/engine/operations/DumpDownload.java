package dev.tidemark.engine.operations;

import java.io.IOException;
import java.io.InputStream;

/**
 * A dump archive ready to stream: its file name, exact size, the SHA-256 of its bytes (for the downloader to check the
 * file it ends up with), and a way to open it from any offset (resumed downloads).
 */
public record DumpDownload(String fileName, long size, String sha256, Opener opener) {

    @FunctionalInterface
    public interface Opener {
        /** Opens the plain archive from offset to its end. */
        InputStream open(long offset) throws IOException;
    }
}
