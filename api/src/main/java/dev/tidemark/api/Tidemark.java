package dev.tidemark.api;

import dev.tidemark.api.cli.ApiClient;
import dev.tidemark.api.cli.BackupCommand;
import dev.tidemark.api.cli.CatalogCommand;
import dev.tidemark.api.cli.ClientOptions;
import dev.tidemark.api.cli.DbCommand;
import dev.tidemark.api.cli.EventsCommand;
import dev.tidemark.api.cli.KeyCommand;
import dev.tidemark.api.cli.NodeCommand;
import dev.tidemark.api.cli.ReadModelCommand;
import dev.tidemark.api.cli.RestoreCommand;
import dev.tidemark.api.cli.TokenCommand;
import dev.tidemark.api.cli.VerifyCommand;
import dev.tidemark.api.cli.WindowCommand;
import dev.tidemark.api.quickstart.Quickstart;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.lang.reflect.Field;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The tidemark command: the server ({@code serve}), the quickstart, and a CLI client of the REST API.
 * Exit codes: 0 success, 1 the operation failed (or the server could not be reached), 2 the input was rejected.
 */
@Command(name = "tidemark", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT, version = "tidemark 0.1.0",
        description = "Backup and point-in-time recovery for PostgreSQL: WAL streaming, base backups, dumps, restores.")
public final class Tidemark implements Runnable {
    /** The subcommands, in the order the help lists them. */
    private static final List<Class<?>> SUBCOMMANDS = List.of(ServeCommand.class, Quickstart.class, DbCommand.class,
            BackupCommand.class, RestoreCommand.class, WindowCommand.class, EventsCommand.class, ReadModelCommand.class,
            NodeCommand.class, KeyCommand.class, TokenCommand.class, WarmUpCommand.class, VerifyCommand.class, CatalogCommand.class);
    /** The root's own options (ClientOptions) that take a value (the next argument when not given with '='). */
    private static final Set<String> VALUE_OPTIONS = new HashSet<>();
    /** The root's own options that take none; help and version (the standard ones) need the whole tree. */
    private static final Set<String> FLAGS = new HashSet<>();

    static {
        for (Field f : ClientOptions.class.getDeclaredFields()) {
            CommandLine.Option option = f.getAnnotation(CommandLine.Option.class);
            if (option != null) {
                (f.getType() == boolean.class ? FLAGS : VALUE_OPTIONS).addAll(Arrays.asList(option.names()));
            }
        }
    }
    /** Set by serve: the server runs on in its own threads once main returns, so main does not exit. */
    static volatile boolean serving;

    @picocli.CommandLine.Mixin
    private ClientOptions options = new ClientOptions();

    /** The client options (--server, --token, --data-dir, --json), accepted before or after any subcommand. */
    public ClientOptions options() {
        return options;
    }

    public static void main(String[] args) {
        int code = commandLine(args).execute(args);
        if (!serving) {
            ApiClient.shutdown();
            System.exit(code);
        }
    }

    /** The whole command line (every subcommand) with its error handling: see {@link #commandLine(String...)}. */
    public static CommandLine commandLine() {
        return withSubcommands(SUBCOMMANDS);
    }

    /**
     * The command line for these arguments, with its error handling: API and usage errors print one line and exit
     * non-zero, no stack trace. Only the subcommand the arguments name is built when they name one: picocli builds each
     * command's model by reflection when it is added, and its classes (compiled for Java 5) stay out of the launcher's
     * start-up cache: the other commands' models cost about 30 ms of every CLI call. The whole tree is built for
     * anything else: no subcommand, an unknown one (picocli's suggestions), help or version asked before the subcommand.
     */
    public static CommandLine commandLine(String... args) {
        Class<?> named = named(args);
        return withSubcommands(named == null ? SUBCOMMANDS : List.of(named));
    }

    /** The subcommand the arguments name (the root's own options before it skipped), or null. */
    static Class<?> named(String... args) {
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (VALUE_OPTIONS.contains(arg)) {
                i++; // its value, whatever it looks like (options may be option parameters)
            } else if (arg.startsWith("-")) {
                int eq = arg.indexOf('=');
                if (!(eq > 0 && VALUE_OPTIONS.contains(arg.substring(0, eq))) && !FLAGS.contains(arg)) {
                    return null; // help, version, '--', or an option picocli is to judge
                }
            } else {
                for (Class<?> c : SUBCOMMANDS) {
                    Command command = c.getAnnotation(Command.class);
                    if (command.name().equals(arg) || Arrays.asList(command.aliases()).contains(arg)) {
                        return c;
                    }
                }
                return null;
            }
        }
        return null;
    }

    private static CommandLine withSubcommands(List<Class<?>> subcommands) {
        CommandLine cl = new CommandLine(new Tidemark());
        for (Class<?> c : subcommands) {
            cl.addSubcommand(c);
        }
        // an option that takes a value takes the next argument whatever it looks like, as getopt does: a database or file
        // may be named '-h' or '--json' (--into -h); a positional starting with '-' follows '--' (db status -- -x)
        cl.setAllowOptionsAsOptionParameters(true);
        cl.setParameterExceptionHandler((e, args) -> {
            CommandLine failed = e.getCommandLine();
            failed.getErr().println("error: " + e.getMessage());
            failed.getErr().println("see: " + failed.getCommandSpec().qualifiedName() + " --help");
            // refused by the CLI itself (at parsing, or by a command's own checks): with --json the error document too
            CommandLine.ParseResult parsed = failed.getParseResult();
            if (parsed != null ? jsonAsked(rootOf(parsed)) : java.util.Arrays.asList(args).contains("--json")) {
                printJsonError(failed, null, e.getMessage(), 2);
            }
            return 2;
        });
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            int code;
            if (e instanceof ApiClient.ApiException api) {
                code = api.rejectedInput() ? 2 : 1;
            } else if (e instanceof IllegalArgumentException || e instanceof java.io.IOException || e instanceof IllegalStateException) {
                code = 1;
            } else {
                throw e;
            }
            commandLine.getErr().println("error: " + e.getMessage());
            if (jsonAsked(parseResult)) {
                // with --json, stdout carries one JSON document whatever happens: here the error
                printJsonError(commandLine, e instanceof ApiClient.ApiException api && api.status() > 0 ? api.status() : null,
                        e.getMessage(), code);
            }
            return code;
        });
        return cl;
    }

    /** The one JSON document of a failed command under --json: {"error": {"status", "message", "exitCode"}}. */
    private static void printJsonError(CommandLine commandLine, Integer status, String message, int exitCode) {
        java.util.Map<String, Object> error = new java.util.LinkedHashMap<>();
        error.put("status", status);
        error.put("message", message);
        error.put("exitCode", exitCode);
        try {
            commandLine.getOut().println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(java.util.Map.of("error", error)));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        commandLine.getOut().flush();
    }

    /** The top of a subcommand's parse result (jsonAsked walks down from there). */
    private static CommandLine.ParseResult rootOf(CommandLine.ParseResult r) {
        CommandLine c = r.commandSpec().commandLine();
        while (c.getParent() != null) {
            c = c.getParent();
        }
        return c.getParseResult() != null ? c.getParseResult() : r;
    }

    private static boolean jsonAsked(CommandLine.ParseResult result) {
        for (CommandLine.ParseResult r = result; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--json")) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }
}
