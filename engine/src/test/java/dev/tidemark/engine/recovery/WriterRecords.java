package dev.tidemark.engine.recovery;

import dev.tidemark.storage.Repository;

import java.io.IOException;
import java.time.Duration;

/** For tests of other modules: the repository taken over, as another catalog's engine writes its writer record. */
public final class WriterRecords {
    private WriterRecords() {
    }

    public static void takeOver(Repository repository, String catalog, String node) throws IOException {
        WriterFence.write(repository, catalog, node, false, Duration.ofSeconds(30));
    }
}
