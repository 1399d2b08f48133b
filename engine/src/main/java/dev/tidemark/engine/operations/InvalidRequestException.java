package dev.tidemark.engine.operations;

/** The request itself is wrong (bad id, bad time, a target outside the window); nothing changed. */
public class InvalidRequestException extends RuntimeException {
    public InvalidRequestException(String message) {
        super(message);
    }
}
