package dev.tidemark.engine.testing;

import dev.tidemark.engine.postgres.ChildEnvironment;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/** The environment of a running postmaster, read from /proc as any superuser of it could (pg_read_binary_file). */
public final class ServerEnvironment {
    /** Set by engine/pom.xml for the tests: a secret of the engine's that must never reach a child. */
    public static final String CANARY = "TIDEMARK_TEST_CANARY_SECRET";
    /** What runuser (HOME, USER, LOGNAME), the shell of pg_ctl (PWD) and PostgreSQL's own tools set. */
    private static final List<String> ADDED = List.of("HOME", "USER", "LOGNAME", "PWD", "PGDATA", "PG_GRANDPARENT_PID", "PGLOCALEDIR",
            "PGSYSCONFDIR");

    private ServerEnvironment() {
    }

    /** The names of the variables of the postmaster of dataDirectory. */
    public static Set<String> names(Path dataDirectory) throws IOException {
        String text = read(dataDirectory);
        Set<String> names = new TreeSet<>();
        for (String entry : text.split("\0")) {
            if (!entry.isEmpty()) {
                names.add(entry.substring(0, Math.max(0, entry.indexOf('='))));
            }
        }
        return names;
    }

    /** Asserts the postmaster of dataDirectory holds only the minimal environment and no trace of the engine's secret. */
    public static void assertMinimal(Path dataDirectory) throws IOException {
        String canary = System.getenv(CANARY);
        assertThat(canary).as("%s set in the tests' environment (engine/pom.xml)", CANARY).isNotBlank();
        assertThat(read(dataDirectory)).as("the postmaster's environment").doesNotContain(canary).doesNotContain(CANARY);
        Set<String> allowed = new TreeSet<>(ChildEnvironment.COPIED);
        allowed.addAll(ADDED);
        assertThat(names(dataDirectory)).as("the postmaster's environment").isSubsetOf(allowed);
    }

    private static String read(Path dataDirectory) throws IOException {
        String pid = Files.readAllLines(dataDirectory.resolve("postmaster.pid"), StandardCharsets.UTF_8).get(0).strip();
        byte[] environ = Files.readAllBytes(Path.of("/proc", pid, "environ"));
        assertThat(environ).as("environment of postmaster %s", pid).isNotEmpty();
        return new String(environ, StandardCharsets.UTF_8);
    }
}
