package dev.tidemark.engine.restore;

import java.io.IOException;
import java.util.Optional;

/** Who cancelled a restore (nobody while it is not cancelled); each phase checks it before its next step. */
final class Cancellation {
    private volatile String by;

    void cancel(String by) {
        this.by = by;
    }

    Optional<String> by() {
        return Optional.ofNullable(by);
    }

    /** Fails the restore at this step once it is cancelled. */
    void check() throws IOException {
        if (by != null) {
            throw new IOException("cancelled by " + by);
        }
    }
}
