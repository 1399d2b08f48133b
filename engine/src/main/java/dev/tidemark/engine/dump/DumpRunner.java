package dev.tidemark.engine.dump;

import dev.tidemark.engine.postgres.ChildEnvironment;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.engine.postgres.PgConnections;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.StoredObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Takes logical dumps with pg_dump -Fc, streamed through the codec pipeline into the repository (never a full
 * local copy), downloads them back as the original archive, and restores them with pg_restore.
 */
public final class DumpRunner {
    private static final Logger log = LoggerFactory.getLogger(DumpRunner.class);

    private final Repository repository;
    private final PgBinaries binaries;
    /** Progress of the dump under way: archive bytes written, databases done of those selected, since when. */
    private final java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
    private volatile int databasesDone;
    private volatile int databasesTotal;
    private volatile long startedNanos = System.nanoTime();

    public DumpRunner(Repository repository, PgBinaries binaries) {
        this.repository = repository;
        this.binaries = binaries;
    }

    /**
     * What the dump has done so far: the bytes pg_dump has written (its archive is compressed, so there is no total
     * to compare them with) and the databases done of those selected.
     */
    public dev.tidemark.engine.basebackup.BackupProgress progress() {
        long bytes = written.get();
        double seconds = (System.nanoTime() - startedNanos) / 1e9;
        return new dev.tidemark.engine.basebackup.BackupProgress("dumping", bytes, 0, databasesDone, databasesTotal,
                seconds > 0 ? bytes / seconds : 0);
    }

    /** Dumps the named databases (all that accept connections when empty) of the server at source. */
    public DumpManifest dump(String databaseId, String dumpId, PgConnections source, List<String> databases) throws IOException {
        Instant started = Instant.now();
        int serverVersion;
        boolean standby;
        List<String> names;
        try (Connection c = source.open()) {
            ServerQueries queries = new ServerQueries(c);
            ServerQueries.Version version = queries.version();
            serverVersion = version.versionNum();
            standby = version.inRecovery();
            names = new ArrayList<>(queries.connectableDatabases());
        } catch (SQLException e) {
            throw new IOException("dump " + dumpId + " of " + databaseId + ": cannot connect to " + source.url() + ": " + e.getMessage(), e);
        }
        if (binaries.majorVersion() < serverVersion / 10000) {
            throw new IOException("pg_dump " + binaries.majorVersion() + " cannot dump a PostgreSQL " + (serverVersion / 10000)
                    + " server: install the client programs of version " + (serverVersion / 10000) + " or newer");
        }
        List<String> selected = databases == null || databases.isEmpty() ? names : databases;
        for (String name : selected) {
            if (!names.contains(name)) {
                throw new IOException("dump " + dumpId + " of " + databaseId + ": database '" + name + "' does not exist on " + source.url()
                        + " (it has: " + String.join(", ", names) + ")");
            }
        }
        String prefix = repository.layout().dumpPrefix(databaseId, dumpId);
        databasesTotal = selected.size();
        startedNanos = System.nanoTime();
        boolean done = false;
        try {
            List<DumpManifest.Archive> archives = new ArrayList<>();
            boolean all = databases == null || databases.isEmpty();
            for (int i = 0; i < selected.size(); i++) {
                String name = selected.get(i);
                String key = prefix + String.format("%04d.dump", i);
                try {
                    archives.add(dumpOne(source, name, key));
                } catch (IOException e) {
                    if (!all || exists(source, name)) {
                        throw e;
                    }
                    // dropped while the dump ran: a dump of all databases holds those that exist, not a failure for all
                    log.warn("dump {} of {}: database {} was dropped while the dump ran: skipped", dumpId, databaseId, name);
                    try {
                        repository.store().delete(key);
                    } catch (IOException gone) {
                        // nothing was stored under it
                    }
                    databasesDone = i + 1;
                    continue;
                }
                databasesDone = i + 1;
                log.info("dump {} of {}: database {} done ({} KiB)", dumpId, databaseId, name,
                        archives.get(archives.size() - 1).bytes() >> 10);
            }
            String globalsKey = prefix + "globals.sql";
            StoredObject globals = runInto(List.of(binaries.tool("pg_dumpall").toString(), "--globals-only", "--no-role-passwords"),
                    source, "postgres", globalsKey, "pg_dumpall --globals-only");
            DumpManifest manifest = new DumpManifest(DumpManifest.FORMAT_VERSION, databaseId, dumpId, started, Instant.now(),
                    serverVersion, standby, globalsKey, globals.sha256Hex(), archives);
            repository.putEncoded(repository.layout().dumpObject(databaseId, dumpId), new ByteArrayInputStream(manifest.toJson()));
            done = true;
            return manifest;
        } finally {
            if (!done) {
                removeQuietly(prefix);
            }
        }
    }

    /** Whether the server still has the database (true when it cannot be asked: the dump's failure stands then). */
    private static boolean exists(PgConnections source, String database) {
        try (Connection c = source.open()) {
            return new ServerQueries(c).databaseExists(database);
        } catch (SQLException e) {
            return true;
        }
    }

    private DumpManifest.Archive dumpOne(PgConnections source, String database, String key) throws IOException {
        StoredObject stored = runInto(List.of(binaries.tool("pg_dump").toString(), "-Fc", "--no-sync"), source, database, key,
                "pg_dump of database " + database);
        return new DumpManifest.Archive(database, key, stored.sha256Hex(), stored.plainBytes(), stored.storedBytes());
    }

    /** Runs a client program against database, streaming its standard output into the object key. */
    private StoredObject runInto(List<String> program, PgConnections source, String database, String key, String what) throws IOException {
        List<String> cmd = new ArrayList<>(program);
        cmd.addAll(List.of("-h", source.host(), "-p", Integer.toString(source.port()), "-U", source.user()));
        if (program.get(0).endsWith("pg_dumpall")) {
            cmd.addAll(List.of("-l", database));
        } else {
            cmd.addAll(List.of("-d", conninfo(database)));
        }
        Process process = ChildEnvironment.builder(cmd, environment(source)).start();
        process.getOutputStream().close();
        CompletableFuture<String> stderr = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
        try (Repository.EncodingWriter out = repository.openEncoded(key); InputStream in = process.getInputStream()) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                out.write(buffer, 0, n);
                written.addAndGet(n);
            }
            int exit = process.waitFor();
            String errors = stderr.get(30, TimeUnit.SECONDS).trim();
            if (exit != 0) {
                throw new IOException(what + " failed (exit " + exit + "): " + (errors.isEmpty() ? "no message" : errors));
            }
            return out.commit();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException(what + " was interrupted", e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            process.destroyForcibly();
            throw new IOException(what + ": could not read its messages: " + e.getMessage(), e);
        } finally {
            if (process.isAlive()) {
                process.destroyForcibly();
            }
        }
    }

    /** The manifest of a stored dump. */
    public DumpManifest manifest(String databaseId, String dumpId) throws IOException {
        try (InputStream in = repository.openDecoded(repository.layout().dumpObject(databaseId, dumpId))) {
            return DumpManifest.fromJson(in);
        }
    }

    /** Opens the original pg_dump -Fc archive of one database of a dump, decrypted and decompressed. */
    public InputStream open(DumpManifest.Archive archive) throws IOException {
        return repository.openDecoded(archive.key(), archive.sha256());
    }

    /**
     * Restores one archive into database of target with pg_restore --clean --if-exists --no-owner --no-privileges, in
     * one transaction: a restore that fails halfway (an object of the target in the way, a broken read) leaves the
     * target as it was instead of with some objects dropped and others not restored.
     */
    public void restore(DumpManifest.Archive archive, PgConnections target, String database) throws IOException {
        List<String> cmd = List.of(binaries.tool("pg_restore").toString(), "--clean", "--if-exists", "--no-owner", "--no-privileges",
                "--single-transaction", "--exit-on-error", "-h", target.host(), "-p", Integer.toString(target.port()), "-U", target.user(),
                "-d", conninfo(database));
        Process process = ChildEnvironment.builder(cmd, environment(target)).redirectErrorStream(true).start();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
        OutputStream stdin = process.getOutputStream();
        try (InputStream in = open(archive)) {
            byte[] buffer = new byte[1 << 16];
            while (true) {
                int n;
                try {
                    n = in.read(buffer);
                } catch (IOException readFailed) {
                    // the archive failed its check (or could not be read): pg_restore must not see the end of its input and
                    // commit what it has, so it is killed before its input closes
                    process.destroyForcibly();
                    throw new IOException("restoring dump archive " + archive.key() + " into " + database + " failed, nothing was"
                            + " committed: " + readFailed.getMessage(), readFailed);
                }
                if (n < 0) {
                    break;
                }
                try {
                    stdin.write(buffer, 0, n);
                } catch (IOException pipe) {
                    // pg_restore stopped on an error and closed its input: its own message is the reason
                    try {
                        if (process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() != 0) {
                            throw restoreFailed(database, target, process.exitValue(), output.get(30, TimeUnit.SECONDS).trim());
                        }
                    } catch (InterruptedException | java.util.concurrent.ExecutionException
                             | java.util.concurrent.TimeoutException ignored) {
                        // the write error below is all there is to say
                    }
                    process.destroyForcibly();
                    throw new IOException("restoring dump archive " + archive.key() + " into " + database + " failed: "
                            + pipe.getMessage() + " " + output.getNow(""), pipe);
                }
            }
        } catch (IOException e) {
            process.destroyForcibly();
            throw e;
        }
        try {
            stdin.close(); // the whole archive, checked: pg_restore may commit
        } catch (IOException closed) {
            // pg_restore had stopped already: its exit status below says how
        }
        try {
            int exit = process.waitFor();
            String text = output.get(30, TimeUnit.SECONDS).trim();
            if (exit != 0) {
                throw restoreFailed(database, target, exit, text);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("pg_restore was interrupted", e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("pg_restore: could not read its messages: " + e.getMessage(), e);
        }
    }

    private static IOException restoreFailed(String database, PgConnections target, int exit, String text) {
        String hint = text.contains("must be owner of") ? " (the objects the dump replaces must belong to the role Tidemark connects"
                + " as, " + target.user() + ": restore into a database it owns, made with createdb -O " + target.user() + ")" : "";
        return new IOException("pg_restore into " + database + " failed (exit " + exit + "): " + text + hint);
    }

    /**
     * A database name as a libpq connection string: given to -d as it is, a name with '=' in it (or a URI) would be
     * read as connection settings.
     */
    static String conninfo(String database) {
        return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }

    /** Removes every object of a dump (failed, or expired by retention). */
    public void removeQuietly(String prefix) {
        try {
            repository.deleteUnder(prefix);
        } catch (IOException e) {
            log.warn("could not remove the dump objects under {}: {}", prefix, e.getMessage());
        }
    }

    /** What pg_dump and pg_restore get beside the minimal environment: the password of the server they talk to, alone. */
    private static Map<String, String> environment(PgConnections c) {
        Map<String, String> env = new java.util.HashMap<>();
        if (c.password() != null) {
            env.put("PGPASSWORD", c.password());
        }
        env.put("PGCONNECT_TIMEOUT", "10");
        env.put("PGAPPNAME", "tidemark-dump");
        return env;
    }

    private static String readAll(InputStream in) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            String text = out.toString(StandardCharsets.UTF_8);
            return text.length() > 4000 ? text.substring(0, 4000) + "..." : text;
        } catch (IOException e) {
            return "";
        }
    }
}
