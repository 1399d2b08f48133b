package dev.tidemark.engine.catalog;

/** The catalog refused a command; the message says what was wrong and what to do. Nothing changed. */
public class CatalogRejection extends RuntimeException {
    public enum Kind { NOT_FOUND, CONFLICT, INVALID }

    private final Kind kind;

    public CatalogRejection(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    public static CatalogRejection notFound(String message) {
        return new CatalogRejection(Kind.NOT_FOUND, message);
    }

    public static CatalogRejection conflict(String message) {
        return new CatalogRejection(Kind.CONFLICT, message);
    }

    public static CatalogRejection invalid(String message) {
        return new CatalogRejection(Kind.INVALID, message);
    }
}
