package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.api.Commands.*;
import dev.tidemark.engine.catalog.api.DatabaseEvent.*;
import dev.tidemark.engine.catalog.api.Policy;
import org.axonframework.test.aggregate.AggregateTestFixture;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;

/** The aggregate's decisions: each invariant, given events, when a command, then events or a refusal. */
class ProtectedDatabaseTest {
    private static final Instant T = Instant.parse("2026-11-24T10:00:00Z");
    private static final String CHAIN = "7300000000000000001-15";
    private AggregateTestFixture<ProtectedDatabase> fixture;

    @BeforeEach
    void setUp() {
        fixture = new AggregateTestFixture<>(ProtectedDatabase.class);
    }

    private static DatabaseRegistered registered() {
        return new DatabaseRegistered("db", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null, Policy.defaults(), T);
    }

    private static BaseBackupCompleted completed(String id) {
        return new BaseBackupCompleted("db", id, CHAIN, 1, "0/2000028", "000000010000000000000002", "0/2000100", T, T.plusSeconds(5),
                1000, 100, "db/db/base/" + id + "/manifest", "ab".repeat(32), 0, T.plusSeconds(6));
    }

    private static WalArchived wal(String first, String last, Instant end) {
        return new WalArchived("db", CHAIN, 1, first, last, T, end, 1 << 24, "0/9000000");
    }

    @Test
    void registers() {
        fixture.givenNoPriorActivity()
                .when(new RegisterDatabase("db", "postgresql://postgres@127.0.0.1:5432/postgres", "/pg", null, Policy.defaults(), T))
                .expectEvents(registered());
    }

    @Test
    void refusesAnInvalidId() {
        fixture.givenNoPriorActivity()
                .when(new RegisterDatabase("Not Valid", "postgresql://x@h/db", "/pg", null, Policy.defaults(), T))
                .expectException(IllegalArgumentException.class);
    }

    @Test
    void oneBaseBackupAtATime() {
        fixture.given(registered(), new BaseBackupRequested("db", "b1", "manual", T))
                .when(new RequestBaseBackup("db", "b2", "manual", T))
                .expectException(CatalogRejection.class)
                .expectExceptionMessage(org.hamcrest.Matchers.containsString("b1"));
        fixture.given(registered(), new BaseBackupRequested("db", "b1", "manual", T), new BaseBackupFailed("db", "b1", "x", T))
                .when(new RequestBaseBackup("db", "b2", "scheduled", T))
                .expectEvents(new BaseBackupRequested("db", "b2", "scheduled", T));
    }

    @Test
    void aFinishedBackupCannotFailOrCompleteAgain() {
        fixture.given(registered(), new BaseBackupRequested("db", "b1", "manual", T), completed("b1"))
                .when(new FailBaseBackup("db", "b1", "late", T))
                .expectException(CatalogRejection.class);
    }

    @Test
    void aBackupThatNeverStartedCannotComplete() {
        fixture.given(registered(), new BaseBackupRequested("db", "b1", "manual", T))
                .when(new CompleteBaseBackup("db", "b1", CHAIN, 1, "0/2000028", "000000010000000000000002", "0/2000100", T, T, 1, 1,
                        "k", "ab".repeat(32), 0, T))
                .expectException(CatalogRejection.class)
                .expectExceptionMessage(org.hamcrest.Matchers.containsString("only a running backup can complete"));
    }

    @Test
    void walRecordedTwiceChangesNothing() {
        fixture.given(registered(), wal("000000010000000000000001", "000000010000000000000008", T.plusSeconds(60)))
                .when(new RecordWal("db", CHAIN, 1, "000000010000000000000003", "000000010000000000000005", T, T.plusSeconds(30),
                        3 << 24, "0/6000000"))
                .expectNoEvents()
                .expectResultMessagePayload(false);
    }

    @Test
    void aConflictIsRecordedNeverAnOverwrite() {
        fixture.given(registered())
                .when(new RecordWalConflict("db", CHAIN, "000000010000000000000003", "aa".repeat(32), "bb".repeat(32),
                        "db/db/chains/" + CHAIN + "/wal/000000010000000000000003.conflict-bbbbbbbb", T))
                .expectEvents(new WalConflictDetected("db", CHAIN, "000000010000000000000003", "aa".repeat(32), "bb".repeat(32),
                        "db/db/chains/" + CHAIN + "/wal/000000010000000000000003.conflict-bbbbbbbb", T));
    }

    @Test
    void aRestoreOutsideTheWindowIsRefusedWithTheWindow() {
        fixture.given(registered(), wal("000000010000000000000001", "000000010000000000000008", T.plusSeconds(600)),
                        new BaseBackupRequested("db", "b1", "manual", T), completed("b1"))
                .when(new RequestRestore("db", "r1", "pitr", T.minusSeconds(3600), false, "/restore", 5499, false, null, null, null,
                        null, T.plusSeconds(700)))
                .expectException(CatalogRejection.class)
                .expectExceptionMessage(org.hamcrest.Matchers.containsString("outside the recovery window [2026-11-24T10:00:05Z, 2026-11-24T10:10:00Z]"));
    }

    @Test
    void aRestoreInsideTheWindowIsPlannedOnTheRightBackup() {
        fixture.given(registered(), wal("000000010000000000000001", "000000010000000000000008", T.plusSeconds(600)),
                        new BaseBackupRequested("db", "b1", "manual", T), completed("b1"))
                .when(new RequestRestore("db", "r1", "pitr", T.plusSeconds(300), false, "/restore", 5499, false, null, null, null,
                        null, T.plusSeconds(700)))
                .expectEvents(new RestoreRequested("db", "r1", "pitr", T.plusSeconds(300), false, "/restore", 5499, false, "b1",
                        "db/db/base/b1/manifest", "ab".repeat(32), CHAIN, 1, null, null, null, T.plusSeconds(700)));
    }

    @Test
    void oneDumpAtATimeAndTheRefusalNamesTheRunningOne() {
        fixture.given(registered(), new DumpRequested("db", "d1", List.of(), "manual", T))
                .when(new RequestDump("db", "d2", List.of(), "manual", T))
                .expectException(CatalogRejection.class)
                .expectExceptionMessage(org.hamcrest.Matchers.containsString("d1"));
    }

    @Test
    void aDeregisteredDatabaseTakesNoNewWork() {
        fixture.given(registered(), new DatabaseDeregistered("db", false, T))
                .when(new RequestBaseBackup("db", "b1", "manual", T))
                .expectException(CatalogRejection.class);
    }
}
