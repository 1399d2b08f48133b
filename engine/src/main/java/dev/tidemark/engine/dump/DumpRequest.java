package dev.tidemark.engine.dump;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.node.Node;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.postgres.ServerQueries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Asks for a logical dump of some (or all) databases of a cluster: checked against the server, then recorded. */
public final class DumpRequest {
    private final Node node;

    public DumpRequest(Node node) {
        this.node = node;
    }

    /** Records the request; returns the dump id. */
    public String ask(String databaseId, List<String> databases, String trigger, String actor) {
        DatabaseHistory h = node.history(databaseId);
        List<String> names = databases == null ? List.of() : List.copyOf(new LinkedHashSet<>(databases)); // each once
        List<String> missing = missingDatabases(h, names);
        if (!missing.isEmpty()) {
            throw new InvalidRequestException("no database " + String.join(", ", missing) + " on the server of " + databaseId
                    + ": name databases it has, or none to dump them all (nothing was recorded)");
        }
        String dumpId = node.newId("dump");
        node.catalog().send(new Commands.RequestDump(databaseId, dumpId, names, trigger, node.clock().instant()), actor);
        return dumpId;
    }

    /** The names the database's server does not have; none when it cannot be asked now (the work says why later). */
    private List<String> missingDatabases(DatabaseHistory h, List<String> names) {
        if (names.isEmpty() || h.pgUrl() == null) {
            return List.of();
        }
        try (Connection c = node.primary(h).open()) {
            Set<String> have = new HashSet<>(new ServerQueries(c).databaseNames());
            return names.stream().filter(n -> !have.contains(n)).toList();
        } catch (SQLException | IllegalArgumentException e) {
            return List.of();
        }
    }
}
