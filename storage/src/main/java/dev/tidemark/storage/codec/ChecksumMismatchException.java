package dev.tidemark.storage.codec;

/** The decoded content's SHA-256 differs from the one recorded when it was stored. */
public class ChecksumMismatchException extends CodecException {
    public ChecksumMismatchException(String message) {
        super(message);
    }
}
