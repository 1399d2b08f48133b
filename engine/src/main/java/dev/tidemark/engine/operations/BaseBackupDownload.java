package dev.tidemark.engine.operations;

import java.io.IOException;
import java.io.OutputStream;

/**
 * A completed base backup as a tar archive that is a startable data directory (its WAL to consistency included): its
 * file name, about how many bytes it has (files and WAL, without tar headers; for progress), and how to write it.
 * The archive is built as it is sent, so it has no exact size or checksum up front; every file in it is checked against
 * the backup's manifest as it passes, and a damaged one stops the stream.
 */
public record BaseBackupDownload(String fileName, long approximateBytes, boolean configurationOutside, Writer writer) {
    // configurationOutside: the server's configuration lived outside its data directory (a Debian cluster's /etc): the
    // archive has it under tidemark-external-config/, not as its postgresql.conf, so it does not start as it is

    @FunctionalInterface
    public interface Writer {
        void writeTo(OutputStream out) throws IOException;
    }
}
