package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The spool a restore opens: for the latest moment (the scan reads beside the replay) the recovery is offered only
 * what the scan has read past, from the very first segment; for a time target (PostgreSQL 13 on, the gated scan beside
 * the replay) the same, then the segment holding the stop cut there and nothing after it; before 13 (the scan ends
 * before PostgreSQL starts) every segment as it is fetched.
 */
class WalToReplaySpoolTest {
    private static final long SEGMENT = 16L << 20;
    private static final String CHAIN = "7715799384167342046-15";

    @TempDir
    Path tmp;

    @Test
    void toTheLatestMomentTheRecoveryGetsOnlyWhatTheScanHasReadPast() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        List<String> names = List.of(new WalSegment(1, 1, SEGMENT).name(), new WalSegment(1, 2, SEGMENT).name(),
                new WalSegment(1, 3, SEGMENT).name());
        for (String name : names) {
            repo.putEncoded(repo.layout().walSegment("db", CHAIN, name), new ByteArrayInputStream(name.getBytes(StandardCharsets.US_ASCII)));
        }
        ServerUser.detect().ownOne(tmp);
        BackupManifest manifest = new BackupManifest(4, "db", "b1", CHAIN, "1", 150000, 1, SEGMENT, "0/1000028", "0/1000100",
                Instant.EPOCH, Instant.EPOCH, false, false, "", null, List.of(), List.of(), List.of(), List.of(), 0, null);

        Path latestSpool = Files.createDirectories(tmp.resolve("latest.tidemark-wal"));
        try (WalSpool wal = WalToReplay.openSpool(repo, request(Optional.empty()), manifest, latestSpool, ServerUser.detect())) {
            awaitFetched(wal, 3);
            for (String name : names) {
                assertThat(latestSpool.resolve(name)).as("offered before the scan read it").doesNotExist();
            }
            wal.readUpTo(2); // the scan reads segment 2: segment 1 is behind it
            assertThat(latestSpool.resolve(names.get(0))).exists();
            assertThat(latestSpool.resolve(names.get(1))).doesNotExist();
        }

        // a time target (PostgreSQL 13 on): offered as the gated scan finds it safe, and once it has found the stop, the
        // segment holding it cut there and nothing later
        Path timeSpool = Files.createDirectories(tmp.resolve("time.tidemark-wal"));
        try (WalSpool wal = WalToReplay.openSpool(repo, request(Optional.of(Instant.now())), manifest, timeSpool, ServerUser.detect())) {
            awaitFetched(wal, 3);
            for (String name : names) {
                assertThat(timeSpool.resolve(name)).as("offered before the scan read it").doesNotExist();
            }
            wal.readUpTo(2);
            assertThat(timeSpool.resolve(names.get(0))).exists();
            wal.endAt(new Lsn(2 * SEGMENT + 10));
            byte[] cut = Files.readAllBytes(timeSpool.resolve(names.get(1)));
            assertThat(cut).hasSize((int) SEGMENT);
            assertThat(new String(cut, 0, 10, StandardCharsets.US_ASCII)).isEqualTo(names.get(1).substring(0, 10));
            assertThat(java.util.stream.IntStream.range(10, cut.length).allMatch(i -> cut[i] == 0)).as("zeroes from the stop on").isTrue();
            assertThat(timeSpool.resolve(names.get(2))).as("after the stop: never offered").doesNotExist();
            assertThat(timeSpool.resolve(WalSpool.DONE)).as("the script answers that nothing more comes").exists();
            assertThat(wal.replayEnd(Optional.empty())).isEqualTo(new Lsn(2 * SEGMENT + 10));
        }

        // before PostgreSQL 13 a time target's scan ends before the start: offered as fetched
        BackupManifest old = new BackupManifest(4, "db", "b1", CHAIN, "1", 120000, 1, SEGMENT, "0/1000028", "0/1000100",
                Instant.EPOCH, Instant.EPOCH, false, false, "", null, List.of(), List.of(), List.of(), List.of(), 0, null);
        Path oldSpool = Files.createDirectories(tmp.resolve("old.tidemark-wal"));
        try (WalSpool wal = WalToReplay.openSpool(repo, request(Optional.of(Instant.now())), old, oldSpool, ServerUser.detect())) {
            awaitFetched(wal, 3);
            for (String name : names) {
                assertThat(oldSpool.resolve(name)).as("a time target's segment, offered as fetched").exists();
            }
        }
    }

    private RestoreRunner.Request request(Optional<Instant> target) {
        return new RestoreRunner.Request("db", "r1", "b1", null, target, tmp.resolve("target"), 5432, false, "postgres", 2,
                Duration.ofMinutes(1));
    }

    private static void awaitFetched(WalSpool spool, int count) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (spool.fetched() < count && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(spool.fetched()).as("fetched").isGreaterThanOrEqualTo(count);
        Thread.sleep(100); // offered (or kept back) right after each fetch
    }
}
