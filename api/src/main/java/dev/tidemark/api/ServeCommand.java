package dev.tidemark.api;

import dev.tidemark.api.server.ServerApplication;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** tidemark serve: the engine and its REST API, started by Spring from the YAML configuration. */
@Command(name = "serve", description = "Run the engine: REST API, WAL streaming, workers, scheduler.")
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--config", description = "YAML configuration file (see docs/configuration.md)")
    Path config;

    @Override
    public Integer call() {
        List<String> args = new ArrayList<>();
        if (config != null) {
            if (!Files.isReadable(config)) {
                System.err.println("error: configuration file " + config + " cannot be read");
                return 2;
            }
            List<Object> documents = new ArrayList<>();
            try (var in = Files.newBufferedReader(config)) {
                // read once here: a YAML error found by Spring would come with its stack trace, before logging is set up
                new org.yaml.snakeyaml.Yaml().loadAll(in).forEach(documents::add);
            } catch (java.io.IOException | RuntimeException e) {
                System.err.println("error: configuration file " + config + " is not valid YAML: " + e.getMessage());
                return 2;
            }
            List<String> unknown = dev.tidemark.api.server.ConfigKeys.unknown(documents);
            if (!unknown.isEmpty()) {
                unknown.forEach(problem -> System.err.println("error: configuration file " + config + ": " + problem));
                System.err.println("nothing was started; see docs/configuration.md for the settings");
                return 2;
            }
            args.add("--spring.config.additional-location=file:" + config.toAbsolutePath());
        }
        try {
            ServerApplication.run(args.toArray(String[]::new));
            Tidemark.serving = true;
            return 0;
        } catch (RuntimeException e) {
            // Spring wraps the reason in its own exceptions: the first other one in the chain says it best (ours
            // name the store, the bucket and what to check; a library's below it only its own words)
            Throwable told = e;
            while (told.getCause() != null && told.getCause() != told && told.getClass().getName().startsWith("org.springframework")) {
                told = told.getCause();
            }
            boolean expected = false;
            String rootMessage = "";
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                expected |= t instanceof IllegalArgumentException || t instanceof IllegalStateException || t instanceof java.io.IOException
                        || t.getClass().getName().startsWith("org.springframework.boot.context.properties")
                        || t.getClass().getName().startsWith("org.yaml");
                rootMessage = t.getMessage() == null ? rootMessage : t.getMessage();
            }
            String message = told.getMessage() == null ? told.getClass().getSimpleName() : told.getMessage();
            if (rootMessage.contains("The file is locked") || rootMessage.contains("Database may be already in use")) {
                message = "another tidemark server is using the same data directory (its catalog is locked): stop it, or give"
                        + " this one a data directory of its own (tidemark.data-directory)";
            } else if (!expected) {
                e.printStackTrace(); // not a configuration problem: the trace is for whoever reports it
            }
            System.err.println("error: the server did not start: " + message);
            return 1;
        }
    }
}
