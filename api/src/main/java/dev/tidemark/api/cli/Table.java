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
                cells[i] = text(row.at(fields[i]));
            }
            lines.add(cells);
        }
        int[] widths = new int[headers.length];
        for (String[] line : lines) {
            for (int i = 0; i < line.length; i++) {
                widths[i] = Math.max(widths[i], line[i].length());
            }
        }
        for (String[] line : lines) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < line.length; i++) {
                b.append(i == line.length - 1 ? line[i] : String.format("%-" + (widths[i] + 2) + "s", line[i]));
            }
            out.println(b.toString().stripTrailing());
        }
    }

    /** Key: value lines for one object. */
    static void details(PrintStream out, JsonNode node, String[] labels, String[] fields) {
        int width = 0;
        for (String l : labels) {
            width = Math.max(width, l.length());
        }
        for (int i = 0; i < labels.length; i++) {
            String v = text(node.at(fields[i]));
            if (!v.isEmpty()) {
                out.printf("%-" + (width + 2) + "s%s%n", labels[i] + ":", v);
            }
        }
    }

    static String text(JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) {
            return "";
        }
        if (n.isNumber() && n.asText().length() > 6 && n.canConvertToLong()) {
            return n.asText();
        }
        return n.isValueNode() ? n.asText() : n.toString();
    }
}
