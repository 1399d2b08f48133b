package dev.tidemark.engine.recovery;

import dev.tidemark.engine.catalog.Catalog;
import dev.tidemark.engine.catalog.CatalogSettings;
import dev.tidemark.engine.node.FencedStore;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.storage.Repository;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.tidemark.engine.recovery.WriterFence.Decision.REFUSE_SUPERSEDED;
import static dev.tidemark.engine.recovery.WriterFence.Decision.TAKE;
import static dev.tidemark.engine.recovery.WriterFence.Decision.TAKE_OVER;
import static dev.tidemark.engine.recovery.WriterFence.Decision.TAKE_OVER_WHEN_QUIET;
import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * The writer fence between catalogs on one repository: the decision at start, a live writer refusing a second catalog, a
 * quiet or stopped one taken over, and a running writer cut off from the repository that stops writing and, back, finds
 * itself taken over instead of writing beside the new one.
 */
class WriterFenceTest {
    private static final Duration QUIET = Duration.ofSeconds(2);
    private Path tmp;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void scratch() throws Exception {
        tmp = Files.createTempDirectory("tidemark-writer-");
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        PostgresCluster.deleteTree(tmp);
    }

    private static WriterFence.Record record(String catalog, boolean stopped) {
        return new WriterFence.Record(catalog, "node-1", Instant.now(), stopped, QUIET, catalog + stopped);
    }

    @Test
    void theDecisionAtStart() {
        Optional<String> none = Optional.empty();
        assertThat(WriterFence.decide(Optional.empty(), "c1", true, none)).isEqualTo(TAKE);
        assertThat(WriterFence.decide(Optional.of(record("c1", false)), "c1", true, none)).isEqualTo(TAKE);
        // a new host: an empty catalog takes another's record, at once when it stopped cleanly
        assertThat(WriterFence.decide(Optional.of(record("c0", true)), "c1", false, none)).isEqualTo(TAKE_OVER);
        assertThat(WriterFence.decide(Optional.of(record("c0", false)), "c1", false, none)).isEqualTo(TAKE_OVER_WHEN_QUIET);
        // a catalog recovered from c0's repository (catalog recover, or a recovery killed half way) succeeds c0
        assertThat(WriterFence.decide(Optional.of(record("c0", false)), "c1", true, Optional.of("c0"))).isEqualTo(TAKE_OVER_WHEN_QUIET);
        // an old host come back: its catalog holds databases and succeeds nobody, or someone else; stopped or not
        assertThat(WriterFence.decide(Optional.of(record("c2", false)), "c1", true, none)).isEqualTo(REFUSE_SUPERSEDED);
        assertThat(WriterFence.decide(Optional.of(record("c2", true)), "c1", true, none)).isEqualTo(REFUSE_SUPERSEDED);
        assertThat(WriterFence.decide(Optional.of(record("c2", true)), "c1", true, Optional.of("c0"))).isEqualTo(REFUSE_SUPERSEDED);
    }

    @Test
    void aLiveWriterRefusesASecondCatalogAndAQuietOneIsTakenOver() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        WriterFence a = WriterFence.check(catalog("a"), repo, QUIET).take("node-a");
        closing.add(a);
        assertThat(a.mayWrite()).isTrue();
        String aCatalog = WriterFence.read(repo).orElseThrow().catalog();

        Catalog b = catalog("b");
        assertThatThrownBy(() -> WriterFence.check(b, repo, QUIET))
                .hasMessageContaining("another Tidemark engine writes repository").hasMessageContaining("right now (node node-a of catalog "
                        + aCatalog).hasMessageContaining("Nothing was written");
        assertThat(WriterFence.read(repo).orElseThrow().catalog()).isEqualTo(aCatalog);

        a.close(); // killed: the record still says running, and stops changing
        long started = System.nanoTime();
        WriterFence taken = WriterFence.check(b, repo, QUIET).take("node-b");
        closing.add(taken);
        assertThat(Duration.ofNanos(System.nanoTime() - started)).as("watched for the quiet time").isGreaterThanOrEqualTo(QUIET);
        WriterFence.Record now = WriterFence.read(repo).orElseThrow();
        assertThat(now.catalog()).isNotEqualTo(aCatalog);
        assertThat(now.node()).isEqualTo("node-b");
        assertThat(taken.mayWrite()).isTrue();
    }

    @Test
    void aWriterWithALongerQuietTimeIsWatchedForItsOwn() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        Duration longer = Duration.ofSeconds(6); // heartbeats a second apart: a watcher with 2 s of its own would miss them
        WriterFence a = WriterFence.check(catalog("a"), repo, longer).take("node-a");
        closing.add(a);
        Catalog b = catalog("b");
        long started = System.nanoTime();
        assertThatThrownBy(() -> WriterFence.check(b, repo, QUIET)).hasMessageContaining("right now (node node-a");
        assertThat(a.mayWrite()).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - started)).as("refused within the writer's own quiet time")
                .isLessThan(longer.plusSeconds(1));
    }

    @Test
    void aQuietTimeTheEngineCannotUseIsRefusedByName() {
        String before = System.getProperty("tidemark.writer-quiet-seconds");
        try {
            for (String bad : List.of("0", "-5", "abc", "2")) {
                System.setProperty("tidemark.writer-quiet-seconds", bad);
                assertThatThrownBy(WriterFence::quietTime).hasMessageContaining("-Dtidemark.writer-quiet-seconds=" + bad)
                        .hasMessageContaining("at least 3");
            }
            System.setProperty("tidemark.writer-quiet-seconds", "45");
            assertThat(WriterFence.quietTime()).isEqualTo(Duration.ofSeconds(45));
            System.clearProperty("tidemark.writer-quiet-seconds");
            assertThat(WriterFence.quietTime()).isEqualTo(Duration.ofSeconds(30));
        } finally {
            if (before == null) {
                System.clearProperty("tidemark.writer-quiet-seconds");
            } else {
                System.setProperty("tidemark.writer-quiet-seconds", before);
            }
        }
    }

    @Test
    void aStartThatFailsAfterTakingTheRecordGivesItBack() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        Catalog a = catalog("a");
        WriterFence.check(a, repo, QUIET).take("node-a").release();
        WriterFence.Record before = WriterFence.read(repo).orElseThrow();
        WriterFence b = WriterFence.check(catalog("b"), repo, QUIET).take("node-b");
        assertThat(WriterFence.read(repo).orElseThrow().node()).isEqualTo("node-b");
        b.abandon(); // e.g. its web server's port in use
        assertThat(WriterFence.read(repo).orElseThrow().text()).isEqualTo(before.text());
        WriterFence again = WriterFence.check(a, repo, QUIET).take("node-a");
        closing.add(again);
        assertThat(again.mayWrite()).as("the old catalog writes on as before").isTrue();
    }

    @Test
    void aCleanStopIsTakenOverWithoutWaiting() throws Exception {
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        Duration long_ = Duration.ofMinutes(5);
        WriterFence a = WriterFence.check(catalog("a"), repo, long_).take("node-a");
        a.release();
        assertThat(WriterFence.read(repo).orElseThrow().stopped()).isTrue();
        Catalog b = catalog("b");
        WriterFence taken = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> WriterFence.check(b, repo, long_).take("node-b"));
        closing.add(taken);
        assertThat(WriterFence.read(repo).orElseThrow().stopped()).isFalse();
        // the same catalog starting again is never kept waiting, stopped or running
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> WriterFence.check(b, repo, long_));
    }

    @Test
    void aWriterCutOffStopsWritingAndBackFindsItselfTakenOver() throws Exception {
        Repository files = TestRepositories.file(tmp.resolve("repo"));
        AtomicBoolean reachable = new AtomicBoolean(true);
        Repository cutOff = new Repository(new FencedStore(files.store(), reachable::get, "the test repository",
                () -> "the repository is unreachable"), files.layout(), files.codec());
        WriterFence a = WriterFence.check(catalog("a"), cutOff, QUIET).take("node-a");
        closing.add(a);
        List<String> superseded = new CopyOnWriteArrayList<>();
        a.onSuperseded(superseded::add);

        reachable.set(false); // its heartbeats fail from now on: it stops writing before anyone may take over
        assertThat(await(a::mayWrite, may -> !may, QUIET.multipliedBy(2))).isFalse();
        assertThat(a.why()).contains("has not renewed its writer record");

        WriterFence b = WriterFence.check(catalog("b"), files, QUIET).take("node-b");
        closing.add(b);
        String bCatalog = WriterFence.read(files).orElseThrow().catalog();

        reachable.set(true); // back: its next heartbeat reads the record first, and finds b's
        assertThat(await(() -> superseded, s -> !s.isEmpty(), Duration.ofSeconds(10))).singleElement().asString()
                .contains("was taken over by another catalog's engines (node node-b of catalog " + bCatalog);
        assertThat(a.mayWrite()).isFalse();
        assertThat(a.superseded()).isPresent();
        Thread.sleep(QUIET.toMillis());
        assertThat(a.mayWrite()).as("for good").isFalse();
        assertThat(WriterFence.read(files).orElseThrow().catalog()).as("b's record, not overwritten").isEqualTo(bCatalog);
        assertThat(b.mayWrite()).isTrue();
    }

    private Catalog catalog(String name) {
        Catalog c = Catalog.open(new CatalogSettings(tmp.resolve(name), null, null, null, null, null, Clock.systemUTC()));
        closing.add(c);
        return c;
    }
}
