package dev.tidemark.engine.operations;

/** The request clashes with the current state (already registered, a backup already running); nothing changed. */
public class ConflictException extends RuntimeException {
    public ConflictException(String message) {
        super(message);
    }
}
