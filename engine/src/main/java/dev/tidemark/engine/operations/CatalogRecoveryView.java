package dev.tidemark.engine.operations;

import java.util.List;

/** What tidemark catalog recover did: per database of the repository, the events the catalog holds now and what was lost. */
public record CatalogRecoveryView(List<Database> databases) {

    /** events: how many the catalog holds now; imported: how many this run added; problems: what could not be recovered. */
    public record Database(String id, long events, int imported, List<String> problems) {
    }

    public boolean complete() {
        return databases.stream().allMatch(d -> d.problems().isEmpty());
    }
}
