package dev.tidemark.api.cli;

import dev.tidemark.storage.codec.MasterKey;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** tidemark key: make a master encryption key (offline: no server involved). */
@Command(name = "key", description = "Master encryption keys.", subcommands = KeyCommand.Generate.class)
public final class KeyCommand {
    @Command(name = "generate", description = "Write a new AES-256 master key to FILE (mode 0600); refuses to overwrite.")
    static final class Generate implements Callable<Integer> {
        @Parameters(index = "0", description = "the file to write")
        Path file;

        @Override
        public Integer call() throws IOException {
            if (Files.exists(file)) { // bad input, like any other: exit 2, nothing written
                System.err.println("error: " + file + " exists: a master key is never overwritten; give a new file name");
                return 2;
            }
            MasterKey key = MasterKey.generate();
            key.writeTo(file);
            System.out.println("wrote master key " + key.fingerprint() + " to " + file
                    + ": keep a copy apart from the repository; without it no backup can be read");
            return 0;
        }
    }
}
