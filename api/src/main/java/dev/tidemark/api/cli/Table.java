package dev.tidemark.api.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/** A plain text table of selected fields of JSON rows. */
final class Table {
    private Table() {
    }

    static void print(PrintStream out, JsonNode rows, String[] headers, String[] fields) {
        List<String[]> lines = new ArrayList<>();
        lines.add(headers);
        for (JsonNode row : rows) {
            String[] cells = new String[fields.length];
            for (int i = 0; i < fields.length; i++) {
                cells[i] = text(fields[i], row.at(fields[i]));
            }
            lines.add(cells);
        }
        int[] widths = new int[headers.length];
        for (String[] line : lines) {
            for (int i = 0; i < line.length; i++) {
                widths[i] = Math.max(widths[i], columns(line[i]));
            }
        }
        for (String[] line : lines) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < line.length; i++) {
                b.append(line[i]);
                if (i < line.length - 1) {
                    b.append(" ".repeat(widths[i] + 2 - columns(line[i])));
                }
            }
            out.println(b.toString().stripTrailing());
        }
    }

    /**
     * The columns a terminal gives the text: two for East Asian wide and full-width characters and emoji, none for
     * combining marks and format characters, one for the rest (so a restore into /srv/数据 keeps the table aligned).
     */
    static int columns(String text) {
        return text.codePoints().map(Table::columnsOf).sum();
    }

    private static int columnsOf(int cp) {
        int type = Character.getType(cp);
        if (type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK || type == Character.FORMAT) {
            return 0;
        }
        boolean wide = cp >= 0x1100 && cp <= 0x115F || cp >= 0x2E80 && cp <= 0x303E || cp >= 0x3041 && cp <= 0x33FF
                || cp >= 0x3400 && cp <= 0x4DBF || cp >= 0x4E00 && cp <= 0x9FFF || cp >= 0xA000 && cp <= 0xA4CF
                || cp >= 0xAC00 && cp <= 0xD7A3 || cp >= 0xF900 && cp <= 0xFAFF || cp >= 0xFE30 && cp <= 0xFE4F
                || cp >= 0xFF00 && cp <= 0xFF60 || cp >= 0xFFE0 && cp <= 0xFFE6 || cp >= 0x1F300 && cp <= 0x1F64F
                || cp >= 0x1F900 && cp <= 0x1F9FF || cp >= 0x20000 && cp <= 0x3FFFD;
        return wide ? 2 : 1;
    }

    /** Key: value lines for one object. */
    static void details(PrintStream out, JsonNode node, String[] labels, String[] fields) {
        int width = 0;
        for (String l : labels) {
            width = Math.max(width, l.length());
        }
        for (int i = 0; i < labels.length; i++) {
            String v = text(fields[i], node.at(fields[i]));
            if (!v.isEmpty()) {
                out.printf("%-" + (width + 2) + "s%s%n", labels[i] + ":", v);
            }
        }
    }

    /**
     * A cell for people: byte counts as KiB/MiB/GiB (a field named bytes or ...Bytes), ISO-8601 durations as 7d or
     * 36h; everything else as the API gives it. --json prints the API's values untouched.
     */
    static String text(String field, JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) {
            return "";
        }
        String name = field.substring(field.lastIndexOf('/') + 1);
        if (n.canConvertToLong() && (name.equals("bytes") || name.endsWith("Bytes"))) {
            return bytes(n.asLong());
        }
        if (n.isTextual() && n.asText().startsWith("P")) {
            String d = duration(n.asText());
            if (d != null) {
                return d;
            }
        }
        return n.isValueNode() ? n.asText() : n.toString();
    }

    /** A byte count for people (1023 B, 1.5 GiB, 150 GiB): tables, progress bars and download messages. */
    static String bytes(long b) {
        if (Math.abs(b) < 1024) {
            return b + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = b;
        int u = -1;
        while (Math.abs(v) >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(java.util.Locale.ROOT, v >= 100 ? "%.0f %s" : "%.1f %s", v, units[u]);
    }

    /** "P7D" as 7d, "PT36H" as 36h (1d 12h reads worse in a policy), "PT90M" as 90m; null when it is not a duration. */
    static String duration(String iso) {
        java.time.Duration d;
        try {
            d = java.time.Duration.parse(iso);
        } catch (java.time.format.DateTimeParseException e) {
            return null;
        }
        long s = d.getSeconds();
        if (s > 0 && d.getNano() == 0) {
            if (s % 86400 == 0) {
                return s / 86400 + "d";
            }
            if (s % 3600 == 0) {
                return s / 3600 + "h";
            }
            if (s % 60 == 0) {
                return s / 60 + "m";
            }
        }
        return d.toString();
    }
}
