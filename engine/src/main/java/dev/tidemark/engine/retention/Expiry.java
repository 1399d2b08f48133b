package dev.tidemark.engine.retention;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.WalCut;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.WalSegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Applies retention: records what expires ({@link Retention}), then deletes its objects (an object outliving its record is only space). */
public final class Expiry {
    private static final Logger LOG = LoggerFactory.getLogger(Expiry.class);
    private static final String SCHEDULER = "scheduler";

    private final Node node;

    public Expiry(Node node) {
        this.node = node;
    }

    public void expire(String databaseId, Instant now) {
        DatabaseHistory h = node.history(databaseId);
        Retention retention = Retention.expire(h, now);
        if (retention.isEmpty()) {
            return;
        }
        node.catalog().send(new Commands.ExpireBackups(databaseId, retention.baseBackupIds(), retention.dumpIds(), retention.walCuts(),
                now), SCHEDULER);
        var layout = node.repository().layout();
        List<String> keys = new ArrayList<>();
        try {
            for (String backupId : retention.baseBackupIds()) {
                keys.addAll(node.keysUnder(layout.baseBackupPrefix(databaseId, backupId)));
            }
            for (String dumpId : retention.dumpIds()) {
                keys.addAll(node.keysUnder(layout.dumpPrefix(databaseId, dumpId)));
            }
            for (WalCut cut : retention.walCuts()) {
                for (String key : node.keysUnder(layout.walPrefix(databaseId, cut.chain()))) {
                    String name = key.substring(key.lastIndexOf('/') + 1);
                    if (name.endsWith(".history")) {
                        continue;
                    }
                    String segment = name.length() >= 24 ? name.substring(0, 24) : name;
                    if (!segment.matches("[0-9A-F]{24}")) {
                        continue;
                    }
                    if (cut.beforeSegment() == null || WalSegment.parse(segment, 16L << 20).number() < cut.beforeSegment()) {
                        keys.add(key);
                    }
                }
            }
            node.repository().store().deleteAll(keys);
            LOG.info("retention of {}: {} base backups, {} dumps and {} WAL cuts expired, {} objects deleted", databaseId,
                    retention.baseBackupIds().size(), retention.dumpIds().size(), retention.walCuts().size(), keys.size());
        } catch (IOException | RuntimeException e) {
            LOG.warn("retention of {} recorded, but deleting its objects failed ({}); they are retried at the next expiry", databaseId,
                    e.getMessage());
        }
    }
}
