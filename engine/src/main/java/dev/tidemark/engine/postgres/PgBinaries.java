package dev.tidemark.engine.postgres;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;

/** The PostgreSQL server and client programs of one installed major version (initdb, pg_ctl, postgres, pg_dump...). */
public record PgBinaries(Path directory, int majorVersion) {

    /** Uses the configured directory, else the newest /usr/lib/postgresql/N/bin, else the directory of initdb on PATH. */
    public static PgBinaries locate(Optional<Path> configured) {
        if (configured.isPresent()) {
            return at(configured.get());
        }
        Path debian = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(debian)) {
            try (Stream<Path> versions = Files.list(debian)) {
                Optional<Path> newest = versions
                        .filter(p -> p.getFileName().toString().matches("\\d+"))
                        .filter(p -> Files.isExecutable(p.resolve("bin/initdb")))
                        .max(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString())));
                if (newest.isPresent()) {
                    return at(newest.get().resolve("bin"));
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot list " + debian + ": " + e.getMessage(), e);
            }
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path initdb = Path.of(dir, "initdb");
            if (!dir.isEmpty() && Files.isExecutable(initdb)) {
                try {
                    return at(initdb.toRealPath().getParent());
                } catch (IOException e) {
                    return at(initdb.getParent());
                }
            }
        }
        throw new IllegalStateException("no PostgreSQL server programs found (looked in /usr/lib/postgresql/*/bin and PATH);"
                + " install them (apt-get install postgresql) or set the postgres binaries directory");
    }

    public static PgBinaries at(Path directory) {
        Path initdb = directory.resolve("initdb");
        if (!Files.isExecutable(initdb)) {
            throw new IllegalStateException("no executable initdb in " + directory + ": point to a PostgreSQL bin directory");
        }
        return new PgBinaries(directory, versionOf(directory.resolve("postgres")));
    }

    public Path tool(String name) {
        Path p = directory.resolve(name);
        if (!Files.isExecutable(p)) {
            throw new IllegalStateException(name + " is not installed in " + directory + " (install the PostgreSQL client/server package)");
        }
        return p;
    }

    private static int versionOf(Path program) {
        try {
            Process p = ChildEnvironment.builder(java.util.List.of(program.toString(), "--version")).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            // "postgres (PostgreSQL) 15.18 (Debian ...)"
            String[] words = out.split("\\s+");
            for (String w : words) {
                if (w.matches("\\d+(\\.\\d+)*")) {
                    return Integer.parseInt(w.split("\\.")[0]);
                }
            }
            throw new IllegalStateException("cannot read the version of " + program + " from '" + out + "'");
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + program + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while asking " + program + " for its version", e);
        }
    }
}
