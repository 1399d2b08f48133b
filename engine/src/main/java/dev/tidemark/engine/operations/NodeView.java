package dev.tidemark.engine.operations;

import java.time.Instant;
import java.util.List;

/**
 * An engine node as the catalog's node table shows it (issue 20).
 *
 * @param heartbeatAgeSeconds seconds since its last heartbeat, by the catalog database's clock
 * @param live                a heartbeat within one lease duration
 * @param draining            it hands its databases over and takes none
 * @param databases           the databases whose lease it holds (or held last, when it is not live)
 */
public record NodeView(String id, Instant heartbeat, double heartbeatAgeSeconds, boolean live, boolean draining, List<String> databases) {
}
