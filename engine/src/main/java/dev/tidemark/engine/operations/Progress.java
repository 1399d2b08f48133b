package dev.tidemark.engine.operations;

/** How far a running backup, dump or restore has come. */
public record Progress(String phase, long bytesDone, long bytesTotal, long filesDone, long filesTotal, double bytesPerSecond,
                      int percent) {
}
