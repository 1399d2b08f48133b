package dev.tidemark.storage.layout;

/** An identifier that may not become part of an object key; the message says which and what is allowed. */
public class InvalidIdentifierException extends IllegalArgumentException {
    public InvalidIdentifierException(String what, String value, String rule) {
        super("invalid " + what + " '" + printable(value) + "': " + rule);
    }

    private static String printable(String value) {
        if (value == null) {
            return "(none)";
        }
        StringBuilder out = new StringBuilder();
        value.codePoints().limit(80).forEach(c -> {
            if (c < 0x20 || c == 0x7f) {
                out.append(String.format("\\x%02x", c));
            } else {
                out.appendCodePoint(c);
            }
        });
        return value.length() > 80 ? out + "..." : out.toString();
    }
}
