package dev.tidemark.engine.postgres;

import java.util.List;
import java.util.Map;

/**
 * The environment of every program the engine starts (PostgreSQL, its tools, a shell check): PATH, the locale and TZ
 * copied from the engine's, plus what that one child needs (a password for pg_dump, say). Never the engine's own
 * environment, which holds the secrets of every database and of the repository: a PostgreSQL server keeps its
 * environment readable by its superusers (pg_read_binary_file('/proc/PID/environ')) for as long as it runs. runuser
 * (ServerUser.command) adds HOME, USER and LOGNAME of the server's user and nothing else.
 */
public final class ChildEnvironment {
    /** The engine's variables a child may see: none of them carries a secret. */
    public static final List<String> COPIED = List.of("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ");

    private ChildEnvironment() {
    }

    /** A builder for command with the minimal environment. */
    public static ProcessBuilder builder(List<String> command) {
        return builder(command, Map.of());
    }

    /** A builder for command with the minimal environment and own (the one secret or setting this child needs). */
    public static ProcessBuilder builder(List<String> command, Map<String, String> own) {
        ProcessBuilder builder = new ProcessBuilder(command);
        Map<String, String> env = builder.environment();
        env.clear();
        Map<String, String> engine = System.getenv();
        for (String name : COPIED) {
            String value = engine.get(name);
            if (value != null) {
                env.put(name, value);
            }
        }
        env.putIfAbsent("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
        env.putAll(own);
        return builder;
    }
}
