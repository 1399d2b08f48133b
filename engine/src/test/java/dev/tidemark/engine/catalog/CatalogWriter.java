package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.postgres.WalSegment;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;

/** A child process for the durability test: records WAL ranges in an embedded catalog and prints each acknowledged one. */
public final class CatalogWriter {
    private CatalogWriter() {
    }

    public static void main(String[] args) {
        Catalog catalog = Catalog.open(new CatalogSettings(Path.of(args[0]), null, null, null, null, null, Clock.systemUTC()));
        catalog.send(new Commands.RegisterDatabase("kill", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null, Policy.defaults(),
                Instant.now()), "test");
        System.out.println("registered");
        for (long n = 1; ; n++) {
            String segment = new WalSegment(1, n, 16L << 20).name();
            catalog.send(new Commands.RecordWal("kill", "7300000000000000001-15", 1, segment, segment, Instant.now(), Instant.now(),
                    16L << 20, new WalSegment(1, n + 1, 16L << 20).start().toString()), "test");
            System.out.println("ack " + n);
        }
    }
}
