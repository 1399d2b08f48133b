package dev.tidemark.engine.recovery;

import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.Repository;

import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** What a repository holds, per database, counted from one listing: base backups, WAL segments, dumps and event batches. */
public record RepositoryContents(Map<String, Counts> databases) {

    public record Counts(int baseBackups, int walSegments, int dumps, int eventBatches) {
        @Override
        public String toString() {
            return baseBackups + " base backups, " + walSegments + " WAL segments, " + dumps + " dumps, " + eventBatches + " event batches";
        }
    }

    public static RepositoryContents scan(Repository repository) throws IOException {
        String root = repository.layout().databasesPrefix();
        Map<String, int[]> tally = new TreeMap<>();
        try (Stream<ObjectInfo> objects = repository.store().list(root)) {
            objects.forEach(o -> {
                String[] parts = o.key().substring(root.length()).split("/");
                if (parts.length < 2 || o.key().contains(".tidemark-tmp-")) {
                    return;
                }
                int[] c = tally.computeIfAbsent(parts[0], id -> new int[4]);
                switch (parts[1]) {
                    case "base" -> c[0] += parts.length == 4 && parts[3].equals("manifest") ? 1 : 0;
                    case "chains" -> c[1] += parts.length == 5 && parts[4].matches("[0-9A-F]{24}(\\.partial)?") ? 1 : 0;
                    case "dump" -> c[2] += parts.length == 4 && parts[3].equals("dump") ? 1 : 0;
                    case "events" -> c[3]++;
                    default -> {
                    }
                }
            });
        }
        return new RepositoryContents(tally.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey,
                e -> new Counts(e.getValue()[0], e.getValue()[1], e.getValue()[2], e.getValue()[3]), (a, b) -> a, TreeMap::new)));
    }

    public boolean isEmpty() {
        return databases.isEmpty();
    }

    /** One line per database, for a log or a refusal. */
    public String describe() {
        return databases.entrySet().stream().map(e -> "  " + e.getKey() + ": " + e.getValue()).collect(Collectors.joining("\n"));
    }
}
