package dev.tidemark.engine.operations;

/** The outcome of a read-model rebuild: whether the rows caught up with the events, for how many databases, in how long. */
public record ReadModelView(boolean current, int databases, long millis) {
}
