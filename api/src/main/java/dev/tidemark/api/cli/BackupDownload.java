package dev.tidemark.api.cli;

import dev.tidemark.api.server.DatabasesController;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

/** tidemark backup download: a dump's archive (resumable, SHA-256 checked) or a base backup as a tar archive. */
@Command(name = "download", description = "Download a dump's pg_dump -Fc archive (an interrupted download resumes), or a"
        + " base backup as a tar archive that starts as a data directory of its own.")
final class BackupDownload extends ClientCommand {
    @Parameters(index = "0", description = "database id (tidemark db list)")
    String db;
    @Parameters(index = "1", description = "dump id (dump-...) or base backup id (base-...)")
    String id;
    @Option(names = "--database", description = "which database of the dump (required when it holds several: one archive each)")
    String database;
    @Option(names = {"-o", "--output"}, description = "file to write (default: the server's file name)")
    Path output;

    @Override
    public Integer call() throws IOException {
        if (id.startsWith("base-")) {
            return baseBackup();
        }
        if (!id.startsWith("dump-")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "'" + id + "' is neither a base backup id (base-...) nor a"
                    + " dump id (dump-...): see 'tidemark backup list " + db + "'");
        }
        String path = "/v1/databases/" + enc(db) + "/dumps/" + enc(id) + "/download" + (database == null ? "" : "?database=" + enc(database));
        if (output != null && output.toString().equals("-")) {
            return toStandardOutput(path);
        }
        Path file = output;
        HttpResponse<InputStream> response = null;
        String[] expected = new String[1]; // the archive's SHA-256, as the server sends it
        if (file == null) {
            response = api().stream(path, null); // the server names the file
            String disposition = response.headers().firstValue("Content-Disposition").orElse("filename=\"" + id + ".dump\"");
            // the name only: never a directory the server's answer names
            file = Path.of(disposition.replaceAll(".*filename=\"([^\"]+)\".*", "$1")).getFileName();
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            close(response);
            throw new CommandLine.ParameterException(spec.commandLine(), "directory " + parent + " does not exist: create it or "
                    + "choose another --output");
        }
        long have = Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) ? Files.size(file) : 0;
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            close(response);
            throw new CommandLine.ParameterException(spec.commandLine(), file + (Files.isSymbolicLink(file)
                    ? " is a symbolic link, which a download never follows" : " is not a regular file") + ": choose another --output");
        }
        if (have > 0) {
            close(response);
            response = null;
            long[] size = new long[1];
            if (!samePrefix(path, file, have, size, expected) || have > size[0]) {
                throw new CommandLine.ParameterException(spec.commandLine(), file + " exists and is not a partial copy of dump " + id
                        + " (" + (have > size[0] ? "it is larger" : "its bytes differ") + "): nothing was written; remove it or "
                        + "choose another --output");
            }
            if (have == size[0]) {
                verify(file, expected[0]);
                done(file + " holds the whole dump already (" + Table.bytes(size[0]) + ", SHA-256 checked); nothing to download",
                        file, size[0], 0);
                return 0;
            }
            response = api().stream(path, "bytes=" + have + "-");
        } else if (response == null) {
            response = api().stream(path, null);
        }
        boolean resume = have > 0 && response.statusCode() == 206;
        response.headers().firstValue(DatabasesController.SHA256_HEADER).ifPresent(h -> expected[0] = h);
        long total;
        try (InputStream in = response.body(); OutputStream fileOut = local(openPrivately(file, resume))) {
            total = in.transferTo(fileOut);
        } catch (LocalWriteFailed e) {
            throw new IOException("writing " + file + " failed (" + e.getCause().getMessage() + "): what was written is kept for a"
                    + " resume; free space (or choose another --output) and run the same command again", e);
        }
        verify(file, expected[0]);
        done((resume ? "resumed at byte " + have + ", " : "") + "wrote " + Table.bytes(total) + " to " + file
                + (database == null ? "" : " (database " + database + ")")
                + "; restore it with: pg_restore --clean --if-exists --no-owner --no-privileges -d DBNAME " + file,
                file, Files.size(file), total);
        return 0;
    }

    /**
     * A base backup as a tar archive, built by the server as it sends it: written to FILE.part and renamed when
     * whole, so a transfer cut short (the server stops on a damaged object) never leaves a file that looks whole.
     * Not resumable: the archive has no fixed bytes to resume into.
     */
    private int baseBackup() throws IOException {
        if (database != null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--database is for dumps: a base backup holds the"
                    + " whole cluster");
        }
        String path = "/v1/databases/" + enc(db) + "/base-backups/" + enc(id) + "/download";
        boolean toStdout = output != null && output.toString().equals("-");
        Path file = output;
        if (file != null && !toStdout) {
            refuseExisting(file);
        }
        HttpResponse<InputStream> response = api().stream(path, null);
        if (file == null) {
            String disposition = response.headers().firstValue("Content-Disposition").orElse("filename=\"" + db + "-" + id + ".tar\"");
            // the server's name, without any directory part: written where the CLI runs
            file = Path.of(disposition.replaceAll(".*filename=\"([^\"]+)\".*", "$1")).getFileName();
            try {
                refuseExisting(file);
            } catch (CommandLine.ParameterException e) {
                close(response);
                throw e;
            }
        }
        long expected = response.headers().firstValueAsLong(DatabasesController.EXPECTED_BYTES_HEADER).orElse(0);
        boolean configurationOutside = response.headers().firstValue(DatabasesController.CONFIGURATION_OUTSIDE_HEADER).isPresent();
        if (toStdout) {
            long total;
            OutputStream stdout = standardOutput();
            try (InputStream in = response.body()) {
                total = Progress.copy(in, stdout, expected, "download", System.err);
                stdout.flush();
            } catch (LocalWriteFailed e) {
                throw standardOutputFailed(e);
            } catch (IOException e) {
                throw cutShort(e);
            }
            System.err.println("wrote " + Table.bytes(total) + " of base backup " + id + " to standard output");
            return 0;
        }
        Path part = file.resolveSibling(file.getFileName() + ".part");
        long total;
        Files.deleteIfExists(part);
        OutputStream fileOut = local(openPrivately(part, false));
        try (InputStream in = response.body(); fileOut) {
            total = Progress.copy(in, fileOut, expected, "download", progressOut());
        } catch (LocalWriteFailed e) {
            Files.deleteIfExists(part);
            throw new IOException("writing " + part + " failed (" + e.getCause().getMessage() + "): nothing was kept; free space or"
                    + " choose another --output, and download again", e);
        } catch (IOException e) {
            Files.deleteIfExists(part);
            throw cutShort(e);
        }
        Files.move(part, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        done("wrote " + Table.bytes(total) + " to " + file + " (base backup " + id + ", its WAL to consistency included;"
                + " archiving is off in it); start it as a copy, as the server's OS user: mkdir -m 700 DIR && tar -xf " + file
                + " -C DIR && " + (configurationOutside ? "copy the server's configuration from DIR/tidemark-external-config/ in as"
                + " DIR/postgresql.conf, pg_hba.conf and pg_ident.conf (comment out data_directory, hba_file, ident_file and"
                + " external_pid_file: docs/recovery-runbook.md, 'A downloaded base backup'), then " : "")
                + "pg_ctl -D DIR -o '-p PORT' start", file, total, total);
        return 0;
    }

    private void refuseExisting(Path file) {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "directory " + parent + " does not exist: create it or "
                    + "choose another --output");
        }
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new CommandLine.ParameterException(spec.commandLine(), file + " exists: a base backup archive is never written"
                    + " over or resumed; remove it or choose another --output");
        }
    }

    private IOException cutShort(IOException e) {
        return new IOException("the download of base backup " + id + " was cut short (" + e.getMessage() + "); nothing was kept."
                + " The server stops an archive when a stored object fails its check (its log says which): download again, and if it"
                + " fails again, use another base backup", e);
    }

    /** The result: the line for a person, or with --json one document (the file, its size, the bytes this call wrote). */
    private void done(String line, Path file, long size, long written) {
        com.fasterxml.jackson.databind.node.ObjectNode result = ApiClient.JSON.createObjectNode()
                .put("database", db).put("backup", id).put("file", file.toAbsolutePath().toString()).put("bytes", size)
                .put("written", written);
        if (database != null) {
            result.put("dumpedDatabase", database);
        }
        options().print(out(), result, () -> out().println(line));
    }

    /** A write on this machine failed (a full disk, a closed pipe): not the server's doing, and said so. */
    private static final class LocalWriteFailed extends IOException {
        LocalWriteFailed(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }

    /** out, whose write errors come out as LocalWriteFailed. */
    private static OutputStream local(OutputStream out) {
        return new java.io.FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                try {
                    out.write(b, off, len);
                } catch (IOException e) {
                    throw new LocalWriteFailed(e);
                }
            }

            @Override
            public void flush() throws IOException {
                try {
                    out.flush();
                } catch (IOException e) {
                    throw new LocalWriteFailed(e);
                }
            }

            @Override
            public void close() throws IOException {
                try {
                    out.close();
                } catch (IOException e) {
                    throw new LocalWriteFailed(e);
                }
            }
        };
    }

    /**
     * Standard output for the archive's bytes. A PrintStream keeps its write errors to itself (it only sets a flag):
     * a full disk or a pipe whose reader stopped would pass for a complete download. Checked after every write here.
     */
    private OutputStream standardOutput() {
        java.io.PrintStream stdout = out();
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[]{(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                stdout.write(b, off, len);
                if (stdout.checkError()) {
                    throw new LocalWriteFailed(new IOException("a write failed: a full disk, or the reading end of the pipe closed"));
                }
            }

            @Override
            public void flush() throws IOException {
                if (stdout.checkError()) { // flushes, then says whether any write failed
                    throw new LocalWriteFailed(new IOException("a write failed: a full disk, or the reading end of the pipe closed"));
                }
            }
        };
    }

    private IOException standardOutputFailed(LocalWriteFailed e) {
        return new IOException("writing " + id + " to standard output failed (" + e.getMessage() + "): what was written there is"
                + " incomplete and must not be used; free space or fix the receiving end, and download again", e);
    }

    private static java.security.MessageDigest sha256() {
        try {
            return java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** "-o -": the archive on standard output (for a pipe), checked against its SHA-256 as it passes; messages on stderr. */
    private int toStandardOutput(String path) throws IOException {
        HttpResponse<InputStream> response = api().stream(path, null);
        String sha256 = response.headers().firstValue(DatabasesController.SHA256_HEADER).orElse(null);
        java.security.MessageDigest digest = sha256();
        long total = 0;
        OutputStream stdout = standardOutput();
        try (InputStream in = response.body()) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                stdout.write(buffer, 0, n);
                digest.update(buffer, 0, n);
                total += n;
            }
            stdout.flush();
        } catch (LocalWriteFailed e) {
            throw standardOutputFailed(e);
        }
        String actual = java.util.HexFormat.of().formatHex(digest.digest());
        if (sha256 != null && !actual.equalsIgnoreCase(sha256)) {
            throw new IOException("the archive written to standard output differs from dump " + id + " (SHA-256 "
                    + actual.substring(0, 16) + "...): download it again");
        }
        System.err.println("wrote " + Table.bytes(total) + " to standard output" + (sha256 == null ? "" : " (SHA-256 checked)"));
        return 0;
    }

    /**
     * Checks the whole file against the archive's SHA-256: the prefix test before a resume looks at the ends only,
     * and bytes can be damaged anywhere. A file that differs is said so (exit 1) and left for the operator.
     */
    private void verify(Path file, String sha256) throws IOException {
        if (sha256 == null) {
            return; // a server that does not send it
        }
        java.security.MessageDigest digest = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        String actual = java.util.HexFormat.of().formatHex(digest.digest());
        if (!actual.equalsIgnoreCase(sha256)) {
            throw new IOException(file + " differs from dump " + id + " (SHA-256 " + actual.substring(0, 16) + "..., the dump's is "
                    + sha256.substring(0, Math.min(16, sha256.length())) + "...): the file was damaged; remove it and download again");
        }
    }

    /**
     * Whether the file's first and last (up to) 64 KiB equal the dump's bytes at the same places; the dump's size,
     * from the first answer's Content-Range, goes into size[0] (a file larger than the dump differs at its end).
     */
    private boolean samePrefix(String path, Path file, long have, long[] size, String[] expected) throws IOException {
        int n = (int) Math.min(have, 65536);
        for (long from : new long[]{0, have - n}) {
            byte[] remote;
            HttpResponse<InputStream> r = api().stream(path, "bytes=" + from + "-" + (from + n - 1));
            r.headers().firstValue(DatabasesController.SHA256_HEADER).ifPresent(h -> expected[0] = h);
            if (from == 0) {
                String range = r.headers().firstValue("Content-Range").orElse("");
                if (!range.matches("bytes \\d+-\\d+/\\d+")) {
                    close(r);
                    throw new IOException("the server did not give the dump's size (Content-Range '" + range + "'); cannot resume safely");
                }
                size[0] = Long.parseLong(range.substring(range.indexOf('/') + 1));
                if (have > size[0]) {
                    close(r);
                    return false;
                }
            }
            try (InputStream in = r.body()) {
                remote = in.readNBytes(n);
            }
            byte[] local = new byte[n];
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
                java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(local);
                while (buffer.hasRemaining() && ch.read(buffer, from + buffer.position()) >= 0) {
                    // read on until the slice is full
                }
            }
            if (!java.util.Arrays.equals(remote, local)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Opens a download's file for writing, never through a symbolic link: what is written is the database's data in plain
     * (decrypted on the way), for its owner alone whatever the umask. A new file is made with mode 0600 and CREATE_NEW, so a
     * link put there, dangling or not, fails it instead of being followed; an existing one (an empty file, or a partial copy
     * to resume, appended to) must be a regular file, is opened with NOFOLLOW_LINKS and made 0600 as well.
     */
    static OutputStream openPrivately(Path file, boolean append) throws IOException {
        Set<PosixFilePermission> ownerOnly = PosixFilePermissions.fromString("rw-------");
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            return Channels.newOutputStream(Files.newByteChannel(file, EnumSet.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(ownerOnly)));
        }
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(file + " is not a regular file (a symbolic link is never followed): nothing was written; choose"
                    + " another --output");
        }
        OutputStream out = Files.newOutputStream(file, LinkOption.NOFOLLOW_LINKS, StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING);
        try {
            Files.getFileAttributeView(file, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).setPermissions(ownerOnly);
        } catch (IOException e) {
            out.close();
            throw e;
        }
        return out;
    }

    private static void close(HttpResponse<InputStream> response) {
        if (response != null) {
            try {
                response.body().close();
            } catch (IOException ignored) {
                // an abandoned body
            }
        }
    }
}
