package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands.*;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.catalog.api.DatabaseEvent.*;
import dev.tidemark.engine.catalog.api.Policy;

import java.time.Instant;
import java.util.List;

/**
 * The aggregate's decisions as data, so that one suite runs on Axon's test fixture and on each event store: given
 * events of database "db", when a command, then the events it appends (and the handler's result when it has one), or
 * a refusal whose message contains the given words (the fixture also checks the handler's exception type).
 */
final class AggregateScenarios {
    static final Instant T = Instant.parse("2026-11-24T10:00:00Z");
    static final String CHAIN = "7300000000000000001-15";

    record Scenario(String name, List<DatabaseEvent> given, Object command, List<DatabaseEvent> events, Object result,
                    Class<? extends Throwable> refusal, String message) {
        @Override
        public String toString() {
            return name;
        }
    }

    private AggregateScenarios() {
    }

    static DatabaseRegistered registered() {
        return new DatabaseRegistered("db", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null, Policy.defaults(), T);
    }

    static BaseBackupCompleted completed(String id) {
        return new BaseBackupCompleted("db", id, CHAIN, 1, "0/2000028", "000000010000000000000002", "0/2000100", T, T.plusSeconds(5),
                1000, 100, "db/db/base/" + id + "/manifest", "ab".repeat(32), 0, T.plusSeconds(6));
    }

    static WalArchived wal(String first, String last, Instant end) {
        return new WalArchived("db", CHAIN, 1, first, last, T, end, 1 << 24, "0/9000000");
    }

    private static Scenario appends(String name, List<DatabaseEvent> given, Object command, DatabaseEvent... events) {
        return new Scenario(name, given, command, List.of(events), null, null, null);
    }

    private static Scenario refuses(String name, List<DatabaseEvent> given, Object command, Class<? extends Throwable> type,
                                    String message) {
        return new Scenario(name, given, command, List.of(), null, type, message);
    }

    static List<Scenario> all() {
        String conflictKey = "db/db/chains/" + CHAIN + "/wal/000000010000000000000003.conflict-bbbbbbbb";
        List<DatabaseEvent> withWindow = List.of(registered(), wal("000000010000000000000001", "000000010000000000000008",
                T.plusSeconds(600)), new BaseBackupRequested("db", "b1", "manual", T), completed("b1"));
        return List.of(
                appends("registers", List.of(),
                        new RegisterDatabase("db", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null, Policy.defaults(), T),
                        registered()),
                refuses("refuses an invalid id", List.of(),
                        new RegisterDatabase("Not Valid", "postgresql://x@h/db", "/pg", null, Policy.defaults(), T),
                        IllegalArgumentException.class, "Not Valid"),
                refuses("one base backup at a time, the refusal names the running one",
                        List.of(registered(), new BaseBackupRequested("db", "b1", "manual", T)),
                        new RequestBaseBackup("db", "b2", "manual", T), CatalogRejection.class, "b1"),
                appends("a new base backup once the last one failed",
                        List.of(registered(), new BaseBackupRequested("db", "b1", "manual", T), new BaseBackupFailed("db", "b1", "x", T)),
                        new RequestBaseBackup("db", "b2", "scheduled", T), new BaseBackupRequested("db", "b2", "scheduled", T)),
                refuses("a finished backup cannot fail", List.of(registered(), new BaseBackupRequested("db", "b1", "manual", T),
                        completed("b1")), new FailBaseBackup("db", "b1", "late", T), CatalogRejection.class, "b1"),
                refuses("a backup that never started cannot complete", List.of(registered(), new BaseBackupRequested("db", "b1", "manual", T)),
                        new CompleteBaseBackup("db", "b1", CHAIN, 1, "0/2000028", "000000010000000000000002", "0/2000100", T, T, 1, 1,
                                "k", "ab".repeat(32), 0, T), CatalogRejection.class, "only a running backup can complete"),
                new Scenario("WAL recorded twice changes nothing", List.of(registered(), wal("000000010000000000000001",
                        "000000010000000000000008", T.plusSeconds(60))),
                        new RecordWal("db", CHAIN, 1, "000000010000000000000003", "000000010000000000000005", T, T.plusSeconds(30),
                                3 << 24, "0/6000000"), List.of(), false, null, null),
                appends("a timeline switch is recorded", List.of(registered()),
                        new RecordTimelineSwitch("db", CHAIN, 1, 2, "0/60000A0", T),
                        new TimelineSwitched("db", CHAIN, 1, 2, "0/60000A0", T)),
                appends("a timeline switch told again by a reconnected stream is recorded once",
                        List.of(registered(), new TimelineSwitched("db", CHAIN, 1, 2, "0/60000A0", T)),
                        new RecordTimelineSwitch("db", CHAIN, 1, 2, "0/60000A0", T.plusSeconds(60))),
                appends("a connection change is recorded", List.of(registered()),
                        new ChangeConnection("db", "postgresql://postgres@127.0.0.1:5433/postgres", "/pg2", null, T),
                        new ConnectionChanged("db", "postgresql://postgres@127.0.0.1:5433/postgres", "/pg2", null, T)),
                refuses("a connection change waits for the work under way",
                        List.of(registered(), new BaseBackupRequested("db", "b1", "manual", T)),
                        new ChangeConnection("db", "postgresql://postgres@127.0.0.1:5433/postgres", "/pg2", null, T),
                        CatalogRejection.class, "has work under way (base backup b1)"),
                appends("a conflict is recorded, never an overwrite", List.of(registered()),
                        new RecordWalConflict("db", CHAIN, "000000010000000000000003", "aa".repeat(32), "bb".repeat(32), conflictKey, T),
                        new WalConflictDetected("db", CHAIN, "000000010000000000000003", "aa".repeat(32), "bb".repeat(32), conflictKey, T)),
                refuses("a restore outside the window is refused with the window", withWindow,
                        new RequestRestore("db", "r1", "pitr", T.minusSeconds(3600), false, "/restore", 5499, false, null, null, null,
                                null, T.plusSeconds(700)),
                        CatalogRejection.class, "outside the recovery window [2026-11-24T10:00:05Z, 2026-11-24T10:10:00Z]"),
                appends("a restore inside the window is planned on the right backup", withWindow,
                        new RequestRestore("db", "r1", "pitr", T.plusSeconds(300), false, "/restore", 5499, false, null, null, null,
                                null, T.plusSeconds(700)),
                        new RestoreRequested("db", "r1", "pitr", T.plusSeconds(300), false, "/restore", 5499, false, "b1",
                                "db/db/base/b1/manifest", "ab".repeat(32), CHAIN, 1, null, null, null, T.plusSeconds(700))),
                refuses("one dump at a time, the refusal names the running one",
                        List.of(registered(), new DumpRequested("db", "d1", List.of(), "manual", T)),
                        new RequestDump("db", "d2", List.of(), "manual", T), CatalogRejection.class, "d1"),
                refuses("a deregistered database takes no new work", List.of(registered(), new DatabaseDeregistered("db", false, T)),
                        new RequestBaseBackup("db", "b1", "manual", T), CatalogRejection.class, "deregistered"),
                refuses("deregistering twice changes nothing", List.of(registered(), new DatabaseDeregistered("db", false, T)),
                        new DeregisterDatabase("db", false, T), CatalogRejection.class, "purge=true"),
                appends("a deregistered database's backups can still be purged", List.of(registered(),
                        new DatabaseDeregistered("db", false, T)), new DeregisterDatabase("db", true, T.plusSeconds(5)),
                        new DatabaseDeregistered("db", true, T.plusSeconds(5))),
                refuses("a command for an unknown database", List.of(),
                        new RequestBaseBackup("db", "b1", "manual", T), org.axonframework.modelling.command.AggregateNotFoundException.class,
                        null));
    }
}
