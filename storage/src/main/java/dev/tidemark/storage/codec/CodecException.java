package dev.tidemark.storage.codec;

import java.io.IOException;

/** A stored object could not be decoded: its bytes are not what the codec wrote. */
public class CodecException extends IOException {
    public CodecException(String message) {
        super(message);
    }

    public CodecException(String message, Throwable cause) {
        super(message, cause);
    }
}
