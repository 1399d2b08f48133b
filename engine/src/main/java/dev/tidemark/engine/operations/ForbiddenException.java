package dev.tidemark.engine.operations;

/** The caller may not ask this (it would hand a secret to a place the caller chose); nothing changed. */
public class ForbiddenException extends RuntimeException {
    public ForbiddenException(String message) {
        super(message);
    }
}
