package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.ServerUser;
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
 * what the scan has read past, from the very first segment; for a time target (the scan ends before PostgreSQL starts)
 * every segment as it is fetched.
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

        Path timeSpool = Files.createDirectories(tmp.resolve("time.tidemark-wal"));
        try (WalSpool wal = WalToReplay.openSpool(repo, request(Optional.of(Instant.now())), manifest, timeSpool, ServerUser.detect())) {
            awaitFetched(wal, 3);
            for (String name : names) {
                assertThat(timeSpool.resolve(name)).as("a time target's segment, offered as fetched").exists();
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
