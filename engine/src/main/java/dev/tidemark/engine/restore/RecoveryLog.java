package dev.tidemark.engine.restore;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a recovering server's own processes wrote to its log, and nothing a client could have put there. The log also
 * carries text clients send before they log in (a user or database name in "password authentication failed for user
 * ..."), so a restore that reads the log to decide (promote, done, a setting to raise) reads only lines that start
 * with the prefix the restore set ({@code log_line_prefix}, with a secret of the restore), come from the startup
 * process or the postmaster (PostgreSQL 13 on name the process type; older ones leave it empty), and only the start of
 * their message. A name with a line break in it makes a line without the prefix.
 */
final class RecoveryLog {
    private static final Set<String> SERVER_PROCESSES = Set.of("startup", "postmaster", "");

    private final List<String> messages;

    private RecoveryLog(List<String> messages) {
        this.messages = messages;
    }

    /** A fresh secret for a restore's log prefix. */
    static String newTag() {
        byte[] random = new byte[8];
        new SecureRandom().nextBytes(random);
        return "tidemark-" + HexFormat.of().formatHex(random);
    }

    /** The log_line_prefix a recovery runs with: the tag, the time, the process id and type. */
    static String prefix(String tag) {
        return tag + " %m [%p] <%b> ";
    }

    /** The messages of the server's processes in the log (none when there is no log yet). */
    static RecoveryLog read(Path logFile, String tag) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(logFile);
        } catch (IOException e) {
            return new RecoveryLog(List.of());
        }
        // lenient: a byte that is no UTF-8 (a client's name in another encoding) is replaced, not a failure
        Pattern line = Pattern.compile("^" + Pattern.quote(tag) + " .*? \\[\\d+\\] <([^>]*)> [A-Z]+:  (.*)$");
        List<String> messages = new ArrayList<>();
        for (String text : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
            Matcher m = line.matcher(text);
            if (m.matches() && SERVER_PROCESSES.contains(m.group(1))) {
                messages.add(m.group(2));
            }
        }
        return new RecoveryLog(messages);
    }

    /** Whether a message of the server's starts with text. */
    boolean has(String text) {
        return messages.stream().anyMatch(m -> m.startsWith(text));
    }

    /** The last message of the server's that the pattern matches from its start. */
    Optional<Matcher> last(Pattern pattern) {
        Matcher found = null;
        for (String message : messages) {
            Matcher m = pattern.matcher(message);
            if (m.lookingAt()) {
                found = m;
            }
        }
        return Optional.ofNullable(found);
    }

    /** Every match of the pattern anywhere in the server's messages. */
    List<MatchResult> all(Pattern pattern) {
        List<MatchResult> found = new ArrayList<>();
        for (String message : messages) {
            Matcher m = pattern.matcher(message);
            while (m.find()) {
                found.add(m.toMatchResult());
            }
        }
        return found;
    }
}
