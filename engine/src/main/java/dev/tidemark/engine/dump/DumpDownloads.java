package dev.tidemark.engine.dump;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.JobStatus;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.operations.ConflictException;
import dev.tidemark.engine.operations.DumpDownload;
import dev.tidemark.engine.operations.InvalidRequestException;
import dev.tidemark.engine.operations.NotFoundException;
import dev.tidemark.engine.postgres.PgBinaries;
import dev.tidemark.storage.Repository;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/** A completed dump's archive of one database, checked before it is offered, streamable from any offset. */
public final class DumpDownloads {
    private final Repository repository;
    private final PgBinaries binaries;

    public DumpDownloads(Repository repository, PgBinaries binaries) {
        this.repository = repository;
        this.binaries = binaries;
    }

    public DumpDownload open(DatabaseHistory db, String dumpId, Optional<String> database) throws IOException {
        DatabaseHistory.Dump dump = db.dump(dumpId).orElseThrow(() -> new NotFoundException("database " + db.id() + " has no dump " + dumpId));
        if (db.purged()) {
            throw new ConflictException("database " + db.id() + " was deregistered with its backups"
                    + " purged: dump " + dumpId + " no longer exists");
        }
        if (dump.status() != JobStatus.COMPLETED) {
            throw new ConflictException("dump " + dumpId + " is " + dump.status()
                    + "; only a completed dump can be downloaded");
        }
        if (database.isEmpty() && dump.archives().size() > 1) {
            throw new InvalidRequestException("dump " + dumpId + " holds " + dump.archives().size() + " databases, one archive each: "
                    + dump.archives().stream().map(DumpArchive::database).toList() + "; say which to download (?database=NAME, or"
                    + " --database NAME)");
        }
        DumpArchive archive = database.isEmpty() ? dump.archives().get(0) : dump.archives().stream()
                .filter(a -> a.database().equals(database.get())).findFirst()
                .orElseThrow(() -> new NotFoundException("dump " + dumpId + " holds no database '" + database.get() + "'; it holds "
                        + dump.archives().stream().map(DumpArchive::database).toList()));
        if (repository.store().stat(archive.key()).isEmpty()) {
            throw new ConflictException("the archive of dump " + dumpId + " (" + archive.key()
                    + ") is missing from the repository: it was deleted outside Tidemark; download another dump");
        }
        DumpRunner runner = new DumpRunner(repository, binaries);
        DumpManifest.Archive stored = new DumpManifest.Archive(archive.database(), archive.key(), archive.sha256(), archive.bytes(),
                archive.storedBytes());
        // a file name, whatever the database is called: no directory, no quote that would end the header
        String safeName = archive.database().replaceAll("[^A-Za-z0-9._-]", "_");
        return new DumpDownload(db.id() + "-" + dumpId + "-" + safeName + ".dump", archive.bytes(), archive.sha256(), offset -> {
            InputStream in = runner.open(stored);
            if (offset > 0) {
                in.skipNBytes(offset);
            }
            return in;
        });
    }
}
