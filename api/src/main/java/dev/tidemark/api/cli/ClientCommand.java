package dev.tidemark.api.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.format.DateTimeParseException;
import java.util.concurrent.Callable;

/** Base of client commands: output streams and the API client; and the conversions of arguments several commands share. */
abstract class ClientCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** The connection options, given before or after the subcommand (they live on the root command). */
    ClientOptions options() {
        return ((dev.tidemark.api.Tidemark) spec.root().userObject()).options();
    }

    PrintStream out() {
        return System.out;
    }

    /**
     * The exit code of a job followed to its end (--wait): 0 when it completed; otherwise 1, and the error line on stderr
     * as for any failed command (stdout keeps the job's view, or its JSON).
     */
    int ended(String what, com.fasterxml.jackson.databind.JsonNode done) {
        String status = done.path("status").asText();
        if ("completed".equals(status)) {
            return 0;
        }
        String failure = done.path("failure").asText("");
        progressOut().println("error: " + what + " " + done.path("id").asText() + " " + status + (failure.isEmpty() ? "" : ": " + failure));
        return 1;
    }

    /** Progress goes to stderr: stdout carries the result only (the one JSON document with --json), for scripts. */
    PrintStream progressOut() {
        return System.err;
    }

    ApiClient api() {
        return options().client();
    }

    /** A path as the server needs it: absolute and normalised (it does not know the CLI's working directory); null stays null. */
    static String absolute(String path) {
        return path == null ? null : Path.of(path).toAbsolutePath().normalize().toString();
    }

    /** "7d", "36h", "90m" or an ISO-8601 duration ("P7D"), as the API takes it. */
    static String duration(CommandSpec spec, String text) {
        if (text == null) {
            return null;
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)([dhm])").matcher(text.trim().toLowerCase());
        if (m.matches()) {
            return switch (m.group(2)) {
                case "d" -> "P" + m.group(1) + "D";
                case "h" -> "PT" + m.group(1) + "H";
                default -> "PT" + m.group(1) + "M";
            };
        }
        try {
            return java.time.Duration.parse(text.trim()).toString();
        } catch (DateTimeParseException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "'" + text + "' is not a duration: use e.g. 7d, 36h or P7D");
        }
    }

    /** "on" or "off" as true or false; null stays null. */
    static Boolean onOff(CommandSpec spec, String option, String text) {
        if (text == null) {
            return null;
        }
        return switch (text.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    option + " takes on or off, not '" + text + "' (nothing was changed)");
        };
    }

    /** Percent-encoded for a path segment or a query value (a space as %20: '+' would be a plus in a path). */
    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
