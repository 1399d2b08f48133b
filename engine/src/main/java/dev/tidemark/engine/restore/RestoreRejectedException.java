package dev.tidemark.engine.restore;

/** A restore refused before any byte was written: the message says what is wrong and what to do. */
public class RestoreRejectedException extends IllegalArgumentException {
    public RestoreRejectedException(String message) {
        super(message);
    }
}
