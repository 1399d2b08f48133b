package dev.tidemark.api;

import dev.tidemark.api.cli.DbCommand;
import dev.tidemark.api.cli.RestoreCommand;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CLI builds only the subcommand its arguments name (the other commands' models cost about 30 ms of every
 * call): that tree must behave as the whole one for every command in it.
 */
class CommandTreeTest {
    @Test
    void everyCommandReadsAsInTheWholeTree() {
        CommandLine whole = Tidemark.commandLine();
        List<List<String>> paths = new ArrayList<>();
        collect(whole, new ArrayList<>(), paths);
        assertThat(paths).hasSizeGreaterThan(30);
        for (List<String> path : paths) {
            CommandLine lazy = Tidemark.commandLine(path.toArray(String[]::new));
            assertThat(lazy.getSubcommands()).as("built for %s", path).containsOnlyKeys(path.get(0));
            CommandLine inWhole = at(whole, path);
            CommandLine inLazy = at(lazy, path);
            // the usage lists the options (the root's --server, --token, --json, --data-dir inherited), parameters and
            // subcommands: the same text means the same command
            assertThat(inLazy.getUsageMessage(CommandLine.Help.Ansi.OFF)).as("usage of %s", path)
                    .isEqualTo(inWhole.getUsageMessage(CommandLine.Help.Ansi.OFF))
                    .contains("--server", "--token", "--json");
        }
    }

    @Test
    void theRootsOptionsBeforeTheSubcommandAreSkipped() {
        assertThat(Tidemark.named("restore", "shop", "--latest")).isEqualTo(RestoreCommand.class);
        assertThat(Tidemark.named("--server", "http://127.0.0.1:1", "--token", "t", "restore", "shop")).isEqualTo(RestoreCommand.class);
        assertThat(Tidemark.named("--server=http://x", "--json", "--data-dir", "/d", "db", "list")).isEqualTo(DbCommand.class);
        // an option's value is the next argument whatever it looks like, a subcommand's name included
        assertThat(Tidemark.named("--token", "restore", "db", "list")).isEqualTo(DbCommand.class);
        assertThat(Tidemark.named("--server", "--json", "db")).isEqualTo(DbCommand.class);
    }

    @Test
    void anythingElseGetsTheWholeTree() {
        for (String[] args : new String[][]{{}, {"--help"}, {"-h", "restore"}, {"--version"}, {"restor", "shop"},
                {"--", "db"}, {"--bogus", "db"}, {"--server"}, {"--json=true", "db"}}) {
            assertThat(Tidemark.named(args)).as("named in %s", List.of(args)).isNull();
            assertThat(Tidemark.commandLine(args).getSubcommands()).as("tree for %s", List.of(args))
                    .hasSameSizeAs(Tidemark.commandLine().getSubcommands());
        }
    }

    @Test
    void mistakesAreReportedAsWithTheWholeTree() {
        for (String[] args : new String[][]{{"restore"}, {"restore", "shop", "--time", "yesterday"}, {"db", "frobnicate"},
                {"restor", "shop"}, {"db", "status", "shop", "--bogus"}, {"--server", "http://127.0.0.1:1", "window"}}) {
            Map.Entry<Integer, String> whole = run(Tidemark.commandLine(), args);
            Map.Entry<Integer, String> lazy = run(Tidemark.commandLine(args), args);
            assertThat(lazy).as("tidemark %s", String.join(" ", args)).isEqualTo(whole);
            assertThat(lazy.getKey()).as("exit of tidemark %s", String.join(" ", args)).isEqualTo(2);
        }
    }

    private static Map.Entry<Integer, String> run(CommandLine cl, String[] args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return Map.entry(code, err + "|" + out);
    }

    private static void collect(CommandLine cl, List<String> path, List<List<String>> paths) {
        for (Map.Entry<String, CommandLine> sub : cl.getSubcommands().entrySet()) {
            if (!sub.getValue().getCommandName().equals(sub.getKey())) {
                continue; // an alias
            }
            List<String> next = new ArrayList<>(path);
            next.add(sub.getKey());
            paths.add(next);
            collect(sub.getValue(), next, paths);
        }
    }

    private static CommandLine at(CommandLine root, List<String> path) {
        CommandLine cl = root;
        for (String name : path) {
            cl = cl.getSubcommands().get(name);
        }
        return cl;
    }
}
