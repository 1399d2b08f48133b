package dev.tidemark.storage.codec;

/** A stored object was encrypted under another master key than the one configured (or is encrypted when none is). */
public class WrongKeyException extends CodecException {
    public WrongKeyException(String message) {
        super(message);
    }
}
