package dev.tidemark.engine.operations;

/** No such database, backup, dump or restore; nothing changed. */
public class NotFoundException extends RuntimeException {
    public NotFoundException(String message) {
        super(message);
    }
}
