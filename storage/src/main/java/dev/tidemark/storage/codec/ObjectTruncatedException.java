package dev.tidemark.storage.codec;

/** A stored object ends before its final chunk: it was cut short. */
public class ObjectTruncatedException extends CodecException {
    public ObjectTruncatedException(String message) {
        super(message);
    }
}
