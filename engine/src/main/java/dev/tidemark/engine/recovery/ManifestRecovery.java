package dev.tidemark.engine.recovery;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DumpArchive;
import dev.tidemark.engine.catalog.api.Policy;
import dev.tidemark.engine.catalog.mirror.MirroredEvent;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.PartialSegment;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A database's history rebuilt from what the repository describes of itself when its events are gone or damaged: the
 * registration (from the first mirrored event when it is readable, else without a connection), every base backup from
 * its manifest, every dump from its manifest, and the WAL as ranges of the segments present. What is not in those
 * objects is lost and said so: requests, failures, restores, policy changes and actors; the end time of each WAL range is
 * the upload time of its newest object less {@link #UPLOAD_MARGIN}, since WAL objects carry no server time of their own.
 */
final class ManifestRecovery {
    /** A WAL object holds what the server wrote until shortly before it was uploaded (and the store's clock may differ from the server's): the window claims nothing later. */
    static final Duration UPLOAD_MARGIN = Duration.ofSeconds(2);
    /**
     * The primary of a database recovered without its connection: a name that resolves nowhere (.invalid is reserved), so
     * its stream waits, saying it cannot connect, until the operator gives the connection again.
     */
    static final String NO_CONNECTION = "postgresql://connection-unknown@recovered.invalid:5432/postgres";

    record Rebuilt(List<DatabaseEvent> events, List<String> lost) {
    }

    private ManifestRecovery() {
    }

    static Rebuilt rebuild(Repository repository, String databaseId, Optional<MirroredEvent> firstEvent,
                           com.fasterxml.jackson.databind.ObjectMapper json) throws IOException {
        String root = repository.layout().databasePrefix(databaseId);
        List<ObjectInfo> objects;
        try (Stream<ObjectInfo> listed = repository.store().list(root)) {
            objects = listed.filter(o -> !o.key().contains(".tidemark-tmp-")).toList();
        }
        List<String> lost = new ArrayList<>();
        List<DatabaseEvent> backups = new ArrayList<>();
        List<DatabaseEvent> dumps = new ArrayList<>();
        Map<String, TreeMap<Long, ObjectInfo>> wal = new TreeMap<>(); // chain/timeline -> segment number -> object
        Instant earliest = null;
        for (ObjectInfo o : objects) {
            String[] parts = o.key().substring(root.length()).split("/");
            if (parts.length == 3 && parts[0].equals("base") && parts[2].equals("manifest")) {
                try {
                    // read as the repository's format, by field name: recovery knows the objects, not the capability that wrote them
                    Read<JsonNode> m = read(repository, o.key(), json::readTree);
                    JsonNode b = m.value();
                    // formats 3 (configuration from outside the data directory) and 4 (XXH64 file checksums) add nothing
                    // that recovery reads: the fields below are the same in formats 1 to 4
                    if (b.path("formatVersion").asInt() > 4) {
                        throw new IOException("manifest format " + b.path("formatVersion").asInt() + " is newer than this Tidemark reads");
                    }
                    String backupId = b.path("backupId").asText();
                    int timeline = b.path("timeline").asInt();
                    Instant startTime = Instant.parse(b.path("startTime").asText());
                    Instant consistencyTime = Instant.parse(b.path("consistencyTime").asText());
                    String startSegment = WalSegment.containing(timeline, Lsn.parse(b.path("startLsn").asText()),
                            b.path("walSegmentSize").asLong()).name();
                    long stored = 0;
                    for (JsonNode bundle : b.path("objects")) {
                        stored += bundle.path("storedBytes").asLong();
                    }
                    backups.add(new DatabaseEvent.BaseBackupRequested(databaseId, backupId, "recovered", startTime));
                    backups.add(new DatabaseEvent.BaseBackupStarted(databaseId, backupId, "recovery", b.path("fromStandby").asBoolean(),
                            startTime));
                    backups.add(new DatabaseEvent.BaseBackupCompleted(databaseId, backupId, b.path("chain").asText(), timeline,
                            b.path("startLsn").asText(), startSegment, b.path("stopLsn").asText(), startTime, consistencyTime,
                            b.path("totalBytes").asLong(), stored, o.key(), m.sha256(), b.path("badPages").size(), consistencyTime));
                    earliest = earlier(earliest, startTime);
                } catch (IOException | RuntimeException e) {
                    lost.add("base backup " + parts[1] + ": its manifest " + o.key() + " cannot be read (" + e.getMessage() + ")");
                }
            } else if (parts.length == 3 && parts[0].equals("dump") && parts[2].equals("dump")) {
                try {
                    JsonNode d = read(repository, o.key(), json::readTree).value();
                    String dumpId = d.path("dumpId").asText();
                    Instant started = Instant.parse(d.path("startedAt").asText());
                    List<DumpArchive> archives = new ArrayList<>();
                    for (JsonNode a : d.path("archives")) {
                        archives.add(new DumpArchive(a.path("database").asText(), a.path("key").asText(), a.path("sha256").asText(),
                                a.path("bytes").asLong(), a.path("storedBytes").asLong()));
                    }
                    dumps.add(new DatabaseEvent.DumpRequested(databaseId, dumpId, archives.stream().map(DumpArchive::database).toList(),
                            "recovered", started));
                    dumps.add(new DatabaseEvent.DumpStarted(databaseId, dumpId, d.path("fromStandby").asBoolean(), started));
                    dumps.add(new DatabaseEvent.DumpCompleted(databaseId, dumpId, archives, o.key(),
                            Instant.parse(d.path("finishedAt").asText()), d.path("fromStandby").asBoolean()));
                    earliest = earlier(earliest, started);
                } catch (IOException | RuntimeException e) {
                    lost.add("dump " + parts[1] + ": its manifest " + o.key() + " cannot be read (" + e.getMessage() + ")");
                }
            } else if (parts.length == 4 && parts[0].equals("chains") && parts[2].equals("wal")
                    && parts[3].matches("[0-9A-F]{24}(\\.partial)?")) {
                WalSegment s = WalSegment.parse(parts[3].substring(0, 24), dev.tidemark.engine.catalog.DatabaseHistory.SEGMENT_SIZE);
                wal.computeIfAbsent(parts[1] + "/" + s.timeline(), k -> new TreeMap<>()).merge(s.number(), o,
                        (a, b) -> a.key().endsWith(".partial") ? b : a); // a complete segment over its partial
            }
        }
        List<DatabaseEvent> events = new ArrayList<>();
        DatabaseEvent.DatabaseRegistered registered = firstEvent.map(e -> e.toMessage(json).getPayload())
                .filter(DatabaseEvent.DatabaseRegistered.class::isInstance).map(DatabaseEvent.DatabaseRegistered.class::cast).orElse(null);
        if (registered == null) {
            registered = new DatabaseEvent.DatabaseRegistered(databaseId, NO_CONNECTION, null, null, Policy.defaults(),
                    earliest == null ? Instant.EPOCH : earliest);
            events.add(registered);
            lost.add("its connection (primary URL, data directory, standby) and policy: give them with 'tidemark db connection "
                    + databaseId + " --url ... --pgdata ...' and 'tidemark db policy'; until then its stream cannot connect");
        } else {
            events.add(registered);
        }
        events.addAll(backups);
        events.addAll(dumps);
        for (Map.Entry<String, TreeMap<Long, ObjectInfo>> e : wal.entrySet()) {
            String chain = e.getKey().substring(0, e.getKey().indexOf('/'));
            int timeline = Integer.parseInt(e.getKey().substring(e.getKey().indexOf('/') + 1));
            List<List<Map.Entry<Long, ObjectInfo>>> runs = new ArrayList<>();
            for (Map.Entry<Long, ObjectInfo> s : e.getValue().entrySet()) {
                if (runs.isEmpty() || runs.get(runs.size() - 1).get(runs.get(runs.size() - 1).size() - 1).getKey() != s.getKey() - 1) {
                    runs.add(new ArrayList<>());
                }
                runs.get(runs.size() - 1).add(s);
            }
            for (int i = 0; i < runs.size(); i++) {
                List<Map.Entry<Long, ObjectInfo>> run = runs.get(i);
                long first = run.get(0).getKey();
                long last = run.get(run.size() - 1).getKey();
                ObjectInfo newest = run.stream().map(Map.Entry::getValue).max(Comparator.comparing(ObjectInfo::lastModified)).orElseThrow();
                Instant end = newest.lastModified().minus(UPLOAD_MARGIN);
                Instant begin = run.get(0).getValue().lastModified().minus(UPLOAD_MARGIN);
                boolean partial = run.get(run.size() - 1).getValue().key().endsWith(".partial");
                long segmentSize = dev.tidemark.engine.catalog.DatabaseHistory.SEGMENT_SIZE;
                // a partial segment holds what the server had written of it when it was uploaded: its decoded length
                Lsn endLsn = new Lsn(partial ? last * segmentSize + filled(repository, run.get(run.size() - 1).getValue().key())
                        : (last + 1) * segmentSize);
                // a base backup whose stop lies in this WAL proves the server had reached its consistency time: the
                // WAL reaches at least that far, however long ago it was uploaded (an idle stream uploads nothing)
                for (DatabaseEvent b : backups) {
                    if (b instanceof DatabaseEvent.BaseBackupCompleted c && c.chain().equals(chain) && c.timeline() == timeline
                            && c.consistencyTime() != null && Lsn.parse(c.stopLsn()).compareTo(endLsn) <= 0
                            && Lsn.parse(c.stopLsn()).compareTo(new Lsn(first * segmentSize)) >= 0 && c.consistencyTime().isAfter(end)) {
                        end = c.consistencyTime();
                    }
                }
                events.add(new DatabaseEvent.WalArchived(databaseId, chain, timeline, new WalSegment(timeline, first, segmentSize).name(),
                        new WalSegment(timeline, last, segmentSize).name(), begin.isAfter(end) ? end : begin, end,
                        run.stream().mapToLong(s -> s.getValue().size()).sum(), endLsn.toString()));
                if (i + 1 < runs.size()) {
                    lost.add("WAL of chain " + chain + " timeline " + timeline + " lacks segments after "
                            + new WalSegment(timeline, last, segmentSize).name() + ": the window has a gap there");
                }
            }
        }
        if (wal.keySet().stream().map(k -> k.substring(0, k.indexOf('/'))).distinct().count() < wal.size()) {
            lost.add("timeline switches: the WAL holds several timelines of a chain, and where each began is not recorded again;"
                    + " restores follow the history files in the repository");
        }
        lost.add("requests, failures, restores, policy changes and who asked for what: they were only in the events");
        return new Rebuilt(events, lost);
    }

    private interface Parser<T> {
        T parse(InputStream in) throws IOException;
    }

    private record Read<T>(T value, String sha256) {
    }

    private static <T> Read<T> read(Repository repository, String key, Parser<T> parser) throws IOException {
        byte[] plain;
        try (InputStream in = repository.openDecoded(key)) {
            plain = in.readAllBytes();
        }
        return new Read<>(parser.parse(new java.io.ByteArrayInputStream(plain)), HexFormat.of().formatHex(Codec.sha256().digest(plain)));
    }

    private static Instant earlier(Instant a, Instant b) {
        return a == null || (b != null && b.isBefore(a)) ? b : a;
    }

    /** How many bytes of its segment a partial segment object holds (0 when it cannot be read: the window ends before it). */
    private static long filled(Repository repository, String key) {
        try (InputStream in = PartialSegment.openWal(repository, key)) {
            return in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
