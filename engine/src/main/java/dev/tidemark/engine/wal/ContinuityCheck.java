package dev.tidemark.engine.wal;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.WalSegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The WAL continuity check: every segment the catalog records must be in the repository (complete, or as the partial
 * of the newest one). A missing one is recorded, so the window ends before it instead of promising a moment no
 * restore can reach.
 */
public final class ContinuityCheck {
    private static final Logger LOG = LoggerFactory.getLogger(ContinuityCheck.class);
    private static final String SCHEDULER = "scheduler";

    private final Node node;
    private final Streams streams;

    public ContinuityCheck(Node node, Streams streams) {
        this.node = node;
        this.streams = streams;
    }

    /** Checks the database's recorded WAL against the repository; returns the number of missing segments. */
    public int check(String databaseId) {
        streams.flush(databaseId);
        DatabaseHistory h = node.history(databaseId);
        Map<String, Set<String>> present = new HashMap<>();
        Map<String, List<String>> missing = new TreeMap<>();
        try {
            for (DatabaseHistory.WalRange r : h.wal()) {
                Set<String> names = present.get(r.chain());
                if (names == null) {
                    names = new HashSet<>();
                    for (String key : node.keysUnder(node.repository().layout().walPrefix(databaseId, r.chain()))) {
                        String name = key.substring(key.lastIndexOf('/') + 1);
                        if (name.matches("[0-9A-F]{24}(\\.partial)?")) {
                            names.add(name.substring(0, 24));
                        }
                    }
                    present.put(r.chain(), names);
                }
                for (long n = r.first(); n <= r.last(); n++) {
                    String name = new WalSegment(r.timeline(), n, 16L << 20).name();
                    if (!names.contains(name)) {
                        missing.computeIfAbsent(r.chain() + "/" + r.timeline(), k -> new ArrayList<>()).add(name);
                    }
                }
            }
        } catch (IOException e) {
            LOG.warn("WAL continuity check of {} could not list the repository: {}", databaseId, e.getMessage());
            return 0;
        }
        int count = 0;
        for (Map.Entry<String, List<String>> m : missing.entrySet()) {
            String[] chainAndTimeline = m.getKey().split("/");
            // the catalog keeps those still recorded: retention may have cut the others between the listing and now
            List<String> lost = node.catalog().send(new Commands.RecordWalMissing(databaseId, chainAndTimeline[0],
                    Integer.parseInt(chainAndTimeline[1]), m.getValue(), node.clock().instant()), SCHEDULER);
            if (lost != null && !lost.isEmpty()) {
                LOG.error("WAL continuity check of {}: {} recorded segments are missing from the repository (first {}); the recovery "
                        + "window now ends before them: take a base backup, and find out what removed them", databaseId, lost.size(),
                        lost.get(0));
                count += lost.size();
            }
        }
        return count;
    }
}
