package dev.tidemark.engine.dump;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;

import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.List;

/** What one logical dump holds: one pg_dump -Fc archive per database, plus the cluster's roles and tablespaces. */
public record DumpManifest(int formatVersion, String databaseId, String dumpId, Instant startedAt, Instant finishedAt,
                           int serverVersionNum, boolean fromStandby, String globalsKey, String globalsSha256,
                           List<Archive> archives) {

    public static final int FORMAT_VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** The pg_dump -Fc archive of one database. */
    public record Archive(String database, String key, String sha256, long bytes, long storedBytes) {
    }

    public long totalBytes() {
        return archives.stream().mapToLong(Archive::bytes).sum();
    }

    public long storedBytes() {
        return archives.stream().mapToLong(Archive::storedBytes).sum();
    }

    public byte[] toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serialise the manifest of dump " + dumpId, e);
        }
    }

    public static DumpManifest fromJson(InputStream in) throws IOException {
        return JSON.readValue(in, DumpManifest.class);
    }
}
