package dev.tidemark.engine.postgres;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * PostgreSQL's configuration file syntax, as far as the engine needs it: the settings of a file, the files it pulls in
 * (include, include_if_exists, include_dir, followed as the server follows them), and a copy of a file with settings
 * commented out and paths rewritten.
 */
public final class ConfigFiles {
    /** name [=] value [# comment]; a quoted value takes '' and backslash escapes. */
    private static final Pattern SETTING = Pattern.compile(
            "^\\s*([A-Za-z_][A-Za-z0-9_.]*)\\s*=?\\s*('(?:[^'\\\\]|''|\\\\.)*'|[^\\s#']*)\\s*(#.*)?$");
    /** PostgreSQL's own limit on the depth of nested includes. */
    private static final int MAX_DEPTH = 10;

    /** One setting line of a file: its index among the file's lines, the name (lower case) and the unquoted value. */
    public record Setting(int line, String name, String value) {
    }

    private ConfigFiles() {
    }

    /** The settings of one file, in order (an include is a setting named include, include_if_exists or include_dir). */
    public static List<Setting> settings(List<String> lines) {
        List<Setting> settings = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            Matcher m = SETTING.matcher(lines.get(i));
            if (m.matches()) {
                settings.add(new Setting(i, m.group(1).toLowerCase(java.util.Locale.ROOT), unquote(m.group(2))));
            }
        }
        return settings;
    }

    /**
     * Every file configFile pulls in, directly or through another, in the server's order: include and
     * include_if_exists files that exist, and the *.conf files of include_dir directories. Relative paths are relative
     * to the directory of the file naming them, as PostgreSQL reads them.
     */
    public static Set<Path> included(Path configFile) throws IOException {
        Set<Path> found = new LinkedHashSet<>();
        follow(configFile.toAbsolutePath().normalize(), found, 0);
        return found;
    }

    private static void follow(Path file, Set<Path> found, int depth) throws IOException {
        if (depth >= MAX_DEPTH) {
            throw new IOException("configuration files nested more than " + MAX_DEPTH + " deep at " + file
                    + ": PostgreSQL refuses that too");
        }
        for (Setting s : settings(Files.readAllLines(file, StandardCharsets.UTF_8))) {
            if (!isInclude(s.name()) || s.value().isEmpty()) {
                continue;
            }
            Path named = file.getParent().resolve(s.value()).normalize();
            if (s.name().equals("include_dir")) {
                if (!Files.isDirectory(named)) {
                    continue; // the server refuses to start; nothing of it to copy
                }
                for (Path inDir : confFiles(named)) {
                    if (found.add(inDir)) {
                        follow(inDir, found, depth + 1);
                    }
                }
            } else if (Files.isRegularFile(named) && found.add(named)) {
                follow(named, found, depth + 1);
            }
        }
    }

    /** The files of an include_dir that PostgreSQL reads: names ending in .conf, not starting with a dot, sorted. */
    public static List<Path> confFiles(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".conf") && !n.startsWith(".") && Files.isRegularFile(p);
            }).sorted().map(p -> p.toAbsolutePath().normalize()).toList();
        }
    }

    public static boolean isInclude(String name) {
        return name.equals("include") || name.equals("include_if_exists") || name.equals("include_dir");
    }

    /** What becomes of one setting line in a rewritten copy. */
    public sealed interface Edit {
        record Keep() implements Edit {
        }

        record CommentOut() implements Edit {
        }

        record SetTo(String value) implements Edit {
        }
    }

    /** A file's lines with each setting kept, commented out or given a new value as edit says, each change saying why. */
    public static List<String> rewrite(List<String> lines, String why, Function<Setting, Edit> edit) {
        List<String> out = new ArrayList<>(lines);
        for (Setting s : settings(lines)) {
            String original = lines.get(s.line());
            switch (edit.apply(s)) {
                case Edit.Keep keep -> {
                }
                case Edit.CommentOut c -> out.set(s.line(), "#" + original + "    # " + why);
                case Edit.SetTo to -> out.set(s.line(), s.name() + " = " + quote(to.value()) + "    # " + why + "; was: " + original.strip());
            }
        }
        return out;
    }

    /** A value as postgresql.conf takes it: single quotes, a quote doubled, a backslash escaped. */
    public static String quote(String value) {
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'";
    }

    private static String unquote(String raw) {
        if (!raw.startsWith("'")) {
            return raw;
        }
        StringBuilder b = new StringBuilder();
        for (int i = 1; i < raw.length() - 1; i++) {
            char c = raw.charAt(i);
            if (c == '\\' && i + 1 < raw.length() - 1) {
                char next = raw.charAt(++i);
                b.append(switch (next) {
                    case 'n' -> '\n';
                    case 't' -> '\t';
                    case 'r' -> '\r';
                    case 'b' -> '\b';
                    case 'f' -> '\f';
                    default -> next;
                });
            } else if (c == '\'' && i + 1 < raw.length() - 1 && raw.charAt(i + 1) == '\'') {
                b.append('\'');
                i++;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
