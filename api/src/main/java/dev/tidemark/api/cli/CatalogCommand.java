package dev.tidemark.api.cli;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.CatalogRecoveryView;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** tidemark catalog: the engine's catalog, offline (the server is not running on this configuration). */
@Command(name = "catalog", description = "The engine's catalog, offline.", subcommands = CatalogCommand.Recover.class)
public final class CatalogCommand {

    @Command(name = "recover", description = "With the server stopped: recover into the catalog every database of the repository"
            + " it does not hold whole (from the repository's event objects, else from its manifests and WAL) and say what could"
            + " not be recovered. Running it again changes nothing. Exit code 1 when something could not be recovered.")
    static final class Recover implements Callable<Integer> {
        @Mixin
        OfflineConfig config;

        @Override
        public Integer call() {
            EngineConfig engineConfig = config.load().orElse(null);
            if (engineConfig == null) {
                return 2;
            }
            CatalogRecoveryView result;
            try {
                result = Engine.recoverCatalog(engineConfig);
            } catch (Exception e) {
                String message = String.valueOf(e.getMessage());
                if (message.contains("The file is locked") || message.contains("Database may be already in use")) {
                    message = "the catalog is in use: a tidemark server runs on this configuration; stop it first (it recovers at"
                            + " start by itself unless tidemark.catalog.recover-on-start is false)";
                }
                System.err.println("error: the catalog was not recovered: " + message);
                return 1;
            }
            if (result.databases().isEmpty()) {
                System.out.println("the repository holds no databases: nothing to recover");
            }
            for (CatalogRecoveryView.Database d : result.databases()) {
                System.out.println(d.id() + ": " + d.events() + " events in the catalog, " + d.imported() + " recovered now"
                        + (d.problems().isEmpty() ? ", whole" : ""));
                d.problems().forEach(p -> System.out.println("  - " + p));
            }
            return result.complete() ? 0 : 1;
        }
    }
}
