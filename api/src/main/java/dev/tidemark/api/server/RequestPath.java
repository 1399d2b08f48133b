package dev.tidemark.api.server;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one reading of a request's path that authentication, scope checks and routing all share. Paths of this API are
 * plain: segments of letters, digits, '-', '.', '_' and '~'. Anything a router could read another way than a filter
 * (';' parameters, percent-encoding of any kind, backslashes, empty, '.' or '..' segments) is refused, never decoded:
 * there is then only one way to read what is left, and it is the raw path itself.
 */
record RequestPath(String path) {
    private static final Pattern PLAIN = Pattern.compile("/|(/[A-Za-z0-9._~-]+)+");
    private static final Pattern DATABASE = Pattern.compile("/v1/databases/([^/]+)(/.*)?");

    /** The request's path when it is plain; otherwise an exception saying what was refused. */
    static RequestPath of(String rawPath) {
        if (rawPath == null || !PLAIN.matcher(rawPath).matches()) {
            throw new IllegalArgumentException("the path " + shown(rawPath) + " is refused: paths of this API are plain, like"
                    + " /v1/databases/ID/window (no ';' parameters, percent-encoding, backslashes, empty, '.' or '..' segments;"
                    + " the ids of databases, backups and restores are lower-case letters, digits and '-')");
        }
        for (String segment : rawPath.split("/")) {
            if (segment.equals(".") || segment.equals("..")) {
                throw new IllegalArgumentException("the path " + shown(rawPath) + " is refused: it has a '" + segment + "' segment;"
                        + " paths of this API are plain, like /v1/databases/ID/window");
            }
        }
        return new RequestPath(rawPath);
    }

    /** The database the path is about (/v1/databases/ID/...), or null. */
    String databaseId() {
        Matcher m = DATABASE.matcher(path);
        return m.matches() ? m.group(1) : null;
    }

    private static String shown(String rawPath) {
        if (rawPath == null) {
            return "(none)";
        }
        String cut = rawPath.length() > 80 ? rawPath.substring(0, 80) + "..." : rawPath;
        return "'" + cut.replaceAll("[^\\x21-\\x7e]", "?") + "'";
    }
}
