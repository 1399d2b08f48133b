package dev.tidemark.storage.codec;

/** A chunk of a stored object failed its authentication tag or checksum: the object was changed after it was written. */
public class ObjectTamperedException extends CodecException {
    public ObjectTamperedException(String message) {
        super(message);
    }
}
