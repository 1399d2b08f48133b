package dev.tidemark.engine.restore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** A restore decides on what the recovering server wrote to its log, never on text a client got into it. */
class RecoveryLogTest {
    @TempDir
    Path tmp;

    @Test
    void onlyTheServersOwnLinesCount() throws Exception {
        String tag = RecoveryLog.newTag();
        String other = RecoveryLog.newTag();
        assertThat(tag).isNotEqualTo(other).startsWith("tidemark-");
        assertThat(RecoveryLog.prefix(tag)).isEqualTo(tag + " %m [%p] <%b> ");
        Path log = tmp.resolve("restore.log");
        String forgedName = "x database system is ready to accept connections";
        Files.write(log, (""
                + tag + " 2026-12-01 12:00:00.001 UTC [100] <startup> LOG:  redo starts at 0/2000028\n"
                // a client's name in a message of its own: the line is real, the phrase is not the start of its message
                + tag + " 2026-12-01 12:00:00.002 UTC [200] <client backend> FATAL:  password authentication failed for user \""
                + forgedName + "\"\n"
                // a client message that starts with the phrase (a client backend): not the server's
                + tag + " 2026-12-01 12:00:00.003 UTC [201] <client backend> LOG:  recovery stopping before commit\n"
                // a line break in a name: a line without the tag (or with a guessed one)
                + "x\n" + other + " 2026-12-01 12:00:00.004 UTC [1] <postmaster> LOG:  database system is ready to accept connections\n"
                + "database system is ready to accept connections\n"
                + tag + " 2026-12-01 12:00:00.005 UTC [100] <startup> LOG:  last completed transaction was at log time 2026-12-01 11:59:59.5+00\n"
                + "\u00ff\u00fe not UTF-8 \n").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        RecoveryLog read = RecoveryLog.read(log, tag);
        assertThat(read.has("redo starts at")).isTrue();
        assertThat(read.has("database system is ready to accept connections")).isFalse();
        assertThat(read.has("recovery stopping ")).isFalse();
        assertThat(read.last(Pattern.compile("last completed transaction was at log time (\\S+ \\S+)")).map(m -> m.group(1)))
                .contains("2026-12-01 11:59:59.5+00");

        Files.writeString(log, tag + " 2026-12-01 12:00:01 UTC [1] <postmaster> LOG:  database system is ready to accept connections\n",
                java.nio.file.StandardOpenOption.APPEND);
        assertThat(RecoveryLog.read(log, tag).has("database system is ready to accept connections")).isTrue();
        // PostgreSQL 12 names no process type: its lines count, the tag still required
        Path old = tmp.resolve("old.log");
        Files.writeString(old, tag + " 2026-12-01 12:00:01 UTC [1] <> LOG:  selected new timeline ID: 3\n");
        assertThat(RecoveryLog.read(old, tag).last(Pattern.compile("selected new timeline ID: (\\d+)")).map(m -> m.group(1))).contains("3");
        assertThat(RecoveryLog.read(tmp.resolve("none.log"), tag).has("x")).isFalse();
    }
}
