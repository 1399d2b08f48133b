package dev.tidemark.api.cli;

import dev.tidemark.engine.Engine;
import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.keys.KeyRotation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** tidemark key: make a master encryption key, rotate the repository to a new one (offline: no server involved). */
@Command(name = "key", description = "Master encryption keys.", subcommands = {KeyCommand.Generate.class, KeyCommand.Rotate.class})
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

    @Command(name = "rotate", description = "Wrap every object's data key anew under the master key in NEW_KEY_FILE (the data is not"
            + " re-encrypted, except objects of the format before version 2). Interrupted, run it again: it resumes. Until it"
            + " finishes both keys read; then only the new one is needed. See docs/operations.md, 'Rotating the master key'."
            + " Exit code 1 when objects remain under the old key.")
    static final class Rotate implements Callable<Integer> {
        @Parameters(index = "0", description = "the new master key (made with 'tidemark key generate')")
        Path newKeyFile;

        @Mixin
        OfflineConfig config;

        @Option(names = "--engines-stopped", description = "no engine runs on this repository (otherwise every engine must already"
                + " write with the new key: docs/operations.md, 'Rotating the master key')")
        boolean enginesStopped;

        @Override
        public Integer call() {
            try {
                MasterKey.load(newKeyFile); // missing, not a key, or readable by others: said before anything is opened
            } catch (IOException e) {
                System.err.println("error: " + e.getMessage());
                return 2;
            }
            EngineConfig engineConfig = config.load().orElse(null);
            if (engineConfig == null) {
                return 2;
            }
            boolean terminal = System.console() != null;
            long[] shown = {-1, -1};
            KeyRotation.Summary summary;
            try {
                summary = Engine.rotateKey(engineConfig, newKeyFile.toAbsolutePath(), enginesStopped, (pass, done, total) -> {
                    long percent = total == 0 ? 100 : done * 100 / total;
                    if (terminal && (done % 100 == 0 || done == total)) {
                        System.out.print("\rpass " + pass + " of 2: " + done + " / " + total + " objects");
                        if (done == total) {
                            System.out.println();
                        }
                    } else if (!terminal && (pass != shown[0] || percent / 10 != shown[1])) { // a line per tenth, not per object
                        System.out.println("pass " + pass + " of 2: " + done + " / " + total + " objects");
                        shown[0] = pass;
                        shown[1] = percent / 10;
                    }
                });
            } catch (IllegalArgumentException | IllegalStateException e) {
                // refused before anything changed: a wrong key, another rotation in progress, encryption off
                System.err.println((terminal ? "\n" : "") + "error: no key rotation: " + e.getMessage());
                return 2;
            } catch (Exception e) {
                System.err.println((terminal ? "\n" : "") + "error: the key rotation stopped: " + e.getMessage()
                        + ". Both keys are still needed; run the same command again: it resumes where it stopped");
                return 1;
            }
            System.out.printf("%d objects: %d already under key %s, %d re-wrapped, %d re-encrypted (format version 1), %d changed by"
                            + " the engine meanwhile and left to it; %s written in %.1f s%n", summary.objects(), summary.alreadyUnder(),
                    summary.key(), summary.rewrapped(), summary.reencrypted(), summary.leftAlone(), Table.bytes(summary.bytes()),
                    summary.took().toMillis() / 1000.0);
            if (!summary.complete()) {
                System.out.println("not finished: " + summary.remaining().size() + " objects still need the old key:");
                summary.remaining().stream().limit(20).forEach(r -> System.out.println("  - " + r));
                System.out.println("both keys are still needed; run the same command again (it resumes)");
                return 1;
            }
            System.out.println("done: every object is under master key " + summary.key() + " and the repository says so. Set"
                    + " tidemark.master-key-file to " + newKeyFile.toAbsolutePath() + ", remove tidemark.previous-master-key-files,"
                    + " and restart the engine; after that the old key is no longer needed");
            return 0;
        }
    }
}
