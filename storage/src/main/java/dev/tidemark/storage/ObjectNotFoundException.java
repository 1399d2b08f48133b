package dev.tidemark.storage;

import java.io.FileNotFoundException;

/** No object exists under the key that was asked for. */
public class ObjectNotFoundException extends FileNotFoundException {
    private final String key;

    public ObjectNotFoundException(String store, String key) {
        super("object '" + key + "' does not exist in " + store);
        this.key = key;
    }

    public String key() {
        return key;
    }
}
