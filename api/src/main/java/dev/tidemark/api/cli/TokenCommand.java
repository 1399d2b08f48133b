package dev.tidemark.api.cli;

import dev.tidemark.api.server.Tokens;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/** tidemark token: make an API token and its configuration entry (offline: no server involved). */
@Command(name = "token", description = "API tokens.", subcommands = TokenCommand.Create.class)
public final class TokenCommand {
    @Command(name = "create", description = "Make a new token: prints the secret once and the configuration entry holding its hash.")
    static final class Create implements Callable<Integer> {
        @Parameters(index = "0", description = "token name, recorded as the actor of its requests")
        String name;
        @Option(names = "--scope", required = true, description = "admin, operator or read")
        String scope;
        @Option(names = "--database", description = "for operator tokens: a database it may act on (repeatable)")
        List<String> databases;

        @Override
        public Integer call() {
            String problem = Tokens.scopeProblem(scope, databases);
            if (problem != null) {
                System.err.println("error: " + problem + " (--scope, --database)");
                return 2;
            }
            String secret = Tokens.generate();
            System.out.println("token (shown once): " + secret);
            System.out.println("add to the server configuration:");
            System.out.println("tidemark:");
            System.out.println("  tokens:");
            System.out.println("    - name: " + name);
            System.out.println("      scope: " + scope);
            System.out.println("      sha256: " + Tokens.sha256(secret));
            if (databases != null && !databases.isEmpty()) {
                System.out.println("      databases: [" + String.join(", ", databases) + "]");
            }
            return 0;
        }
    }
}
