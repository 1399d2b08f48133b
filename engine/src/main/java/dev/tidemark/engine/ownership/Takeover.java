package dev.tidemark.engine.ownership;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.config.JvmOption;
import dev.tidemark.engine.node.Leases;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.postgres.SlotConsumer;
import dev.tidemark.engine.wal.Streams;
import dev.tidemark.engine.wal.WalStreamSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * Ownership as leases in the catalog (issue 20), acted on: a database gained is recorded with its previous owner, the
 * jobs that were running for it are failed as interrupted and its stream starts here; a database lost has its jobs
 * cancelled and its stream stopped. The first lease round runs in {@link #start}, so that the databases this node holds
 * are known before the jobs and streams start.
 */
public final class Takeover {
    private static final Logger LOG = LoggerFactory.getLogger(Takeover.class);

    private Takeover() {
    }

    /** Lease duration: JVM option -Dtidemark.lease-seconds, 15 s by default (a takeover within about 20 s). */
    public static Duration leaseDuration() {
        return JvmOption.seconds("tidemark.lease-seconds", 15L, 2L);
    }

    /**
     * Starts this node's leases; gains and losses after {@code resumed} turns true start and stop streams and jobs (before,
     * the engine's own resume starts what this node holds).
     */
    public static void start(Node node, Streams streams, BooleanSupplier resumed) {
        Leases leases = new Leases(node.catalog().dataSource(), node.id(), leaseDuration(), () -> {
            Map<String, String> active = new HashMap<>();
            node.catalog().view().databases().stream().filter(DatabaseHistory::active).forEach(db -> active.put(db.id(), db.owner()));
            return active;
        });
        leases.listener(new Leases.Listener() {
            @Override
            public void acquired(String databaseId, String previousOwner, long epoch) {
                String recorded = node.find(databaseId).map(DatabaseHistory::owner).orElse(null);
                if (!node.id().equals(recorded)) {
                    String reason = previousOwner == null || previousOwner.equals(node.id()) ? "lease taken"
                            : "lease of " + previousOwner + " expired or released";
                    node.sendQuietly(new Commands.RecordOwnerChange(databaseId, recorded, node.id(), epoch, reason, node.clock().instant()));
                }
                if (resumed.getAsBoolean()) {
                    // the jobs another node (or this one, before it lost the lease) was running: failed as interrupted,
                    // their objects removed, the queued ones started here; in the job pool, not on the lease thread
                    node.jobs().execute(() -> node.adopt(databaseId));
                    Optional<DatabaseHistory> db = node.find(databaseId).filter(DatabaseHistory::active);
                    if (db.isPresent() && previousOwner != null && !previousOwner.equals(node.id())) {
                        // a frozen previous owner still holds the slot: its session is ended first, off the lease thread
                        Thread.ofPlatform().daemon().name("takeover-" + databaseId).start(() -> {
                            endPreviousConsumer(node, db.get(), previousOwner);
                            streams.start(db.get());
                        });
                    } else {
                        db.ifPresent(streams::start);
                    }
                }
            }

            @Override
            public void lost(String databaseId, String reason) {
                node.jobs().cancel(databaseId); // first: it only interrupts, the stream's stop may take a moment
                streams.stop(databaseId);
            }
        });
        node.useLeases(leases);
        leases.start();
    }

    /** Ends the replication session a previous owner may still hold on the database's slot (it is fenced by now). */
    private static void endPreviousConsumer(Node node, DatabaseHistory db, String previousOwner) {
        try {
            if (SlotConsumer.end(node.primary(db), WalStreamSettings.defaults(db.id()).slotName())) {
                LOG.info("database {}: ended the replication session {} still held on its slot", db.id(), previousOwner);
            }
        } catch (SQLException | RuntimeException e) {
            LOG.info("database {}: could not look for a session of {} on its slot ({}); the stream retries until it is free", db.id(),
                    previousOwner, e.getMessage());
        }
    }
}
