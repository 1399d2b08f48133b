package dev.tidemark.engine;

import dev.tidemark.engine.config.EngineConfig;
import dev.tidemark.engine.operations.BackupView;
import dev.tidemark.engine.operations.RegisterDatabase;
import dev.tidemark.engine.operations.RestoreRequest;
import dev.tidemark.engine.operations.RestoreView;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.testing.LostEngine;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.keys.KeyRotation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static dev.tidemark.engine.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Master key rotation end to end: a base backup and WAL under key A; the rotation to key B stopped after a few objects
 * (both keys needed, an engine with the old key alone refused and nothing changed), run again to the end; then the old key
 * file is deleted and a point-in-time restore with key B alone equals the source at that moment. And the same beside a
 * running engine that already writes with key B.
 */
class KeyRotationTest {
    private LostEngine scratch;

    @BeforeEach
    void start() throws IOException {
        scratch = new LostEngine("tidemark-keyrotation-");
    }

    @AfterEach
    void stop() {
        scratch.close();
    }

    @Test
    void aRotationInterruptedAndResumedLeavesARepositoryThatRestoresWithTheNewKeyAlone() throws Exception {
        PostgresCluster cluster = scratch.cluster;
        Path oldKey = scratch.tmp.resolve("master.key");
        Path newKey = scratch.tmp.resolve("new.key");
        MasterKey b = MasterKey.generate();
        b.writeTo(newKey);
        String a = MasterKey.load(oldKey).fingerprint();
        EngineConfig underA = scratch.config("data");

        Instant moment;
        Map<String, String> atMoment;
        try (Engine engine = Engine.start(underA)) {
            registerAndBackUp(engine);
            cluster.execute("create table orders(id serial primary key, item text)", "insert into orders(item) values ('first'), ('second')");
            moment = cluster.serverNow();
            atMoment = TableChecksums.of(cluster);
            Thread.sleep(1100);
            cluster.execute("insert into orders(item) values ('after the moment')", "delete from orders where item = 'first'");
            await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(1)), Duration.ofSeconds(30));
        }
        Map<String, String> before = keysOfObjects();
        assertThat(before).isNotEmpty().allSatisfy((object, key) -> assertThat(key).as(object).isEqualTo(a));

        // no engine writes with the new key yet: refused unless the engines are said to be stopped (one still running with
        // the old key would write on after a "done"), nothing changed
        byte[] steady = Files.readAllBytes(scratch.tmp.resolve("repo/repository-key-check"));
        assertThatThrownBy(() -> Engine.rotateKey(underA, newKey, false, (pass, done, total) -> { }))
                .hasMessageContaining("no engine writes with the new key " + b.fingerprint()).hasMessageContaining("--engines-stopped");
        assertThat(Files.readAllBytes(scratch.tmp.resolve("repo/repository-key-check"))).isEqualTo(steady);
        assertThat(keysOfObjects()).isEqualTo(before);

        // stopped after five objects, as a kill would stop it
        assertThatThrownBy(() -> Engine.rotateKey(underA, newKey, true, (pass, done, total) -> {
            if (done == 5) {
                throw new IllegalStateException("stopped after five objects");
            }
        })).hasMessage("stopped after five objects");
        Map<String, String> halfway = keysOfObjects();
        assertThat(halfway.keySet()).isEqualTo(before.keySet());
        assertThat(halfway.values()).contains(a, b.fingerprint());

        // half-way, an engine with the old key alone, or with a key that is neither, is refused and changes nothing
        byte[] record = Files.readAllBytes(scratch.tmp.resolve("repo/repository-key-check"));
        assertThatThrownBy(() -> Engine.start(underA)).hasMessageContaining("the repository needs master key " + b.fingerprint())
                .hasMessageContaining("Nothing was written");
        Path stranger = scratch.tmp.resolve("stranger.key");
        MasterKey.generate().writeTo(stranger);
        assertThatThrownBy(() -> Engine.start(underA.withMasterKeys(stranger, List.of()))).hasMessageContaining(b.fingerprint());
        assertThatThrownBy(() -> Engine.start(underA.withMasterKeys(newKey, List.of())))
                .hasMessageContaining("rotation from " + a + " to " + b.fingerprint())
                .hasMessageContaining("tidemark.previous-master-key-files with " + a);
        assertThat(Files.readAllBytes(scratch.tmp.resolve("repo/repository-key-check"))).isEqualTo(record);
        assertThat(keysOfObjects()).isEqualTo(halfway);

        // run again: it resumes and finishes (the record is the new key's now: no engine with the old key alone starts)
        KeyRotation.Summary summary = Engine.rotateKey(underA, newKey, false, (pass, done, total) -> { });
        assertThat(summary.complete()).as(summary.remaining().toString()).isTrue();
        assertThat(summary.alreadyUnder()).isGreaterThanOrEqualTo(4);
        assertThat(summary.rewrapped()).isPositive();
        assertThat(summary.reencrypted()).isZero();
        assertThat(keysOfObjects()).containsOnlyKeys(before.keySet())
                .allSatisfy((object, key) -> assertThat(key).as(object).isEqualTo(b.fingerprint()));

        // the old key is gone: the new one alone restores a moment before the rotation exactly
        MasterKey old = MasterKey.load(oldKey);
        Files.delete(oldKey);
        try (Engine engine = Engine.start(underA.withMasterKeys(newKey, List.of()))) {
            assertThat(restored(engine, moment)).isEqualTo(atMoment);
        }
        // the old key is no longer the repository's: refused, naming the key the repository needs
        Path oldAgain = scratch.tmp.resolve("old-again.key");
        old.writeTo(oldAgain);
        assertThatThrownBy(() -> Engine.start(underA.withMasterKeys(oldAgain, List.of())))
                .hasMessageContaining("the repository needs master key " + b.fingerprint());
    }

    @Test
    void aRotationBesideARunningEngineThatWritesWithTheNewKeyLosesNothingItWrites() throws Exception {
        PostgresCluster cluster = scratch.cluster;
        Path oldKey = scratch.tmp.resolve("master.key");
        Path newKey = scratch.tmp.resolve("new.key");
        MasterKey.generate().writeTo(newKey);
        EngineConfig underA = scratch.config("data");
        try (Engine engine = Engine.start(underA)) {
            registerAndBackUp(engine);
            cluster.execute("create table orders(id serial primary key, item text)", "insert into orders(item) values ('under A')");
        }
        // step 2 of the procedure: the engine restarted with the new key, the old one as a previous key, streaming on
        EngineConfig rotating = underA.withMasterKeys(newKey, List.of(oldKey));
        Instant moment;
        Map<String, String> atMoment;
        try (Engine engine = Engine.start(rotating)) {
            cluster.execute("insert into orders(item) values ('under B, before the rotation')");
            KeyRotation.Summary summary = Engine.rotateKey(rotating, newKey, false, (pass, done, total) -> { });
            assertThat(summary.complete()).as(summary.remaining().toString()).isTrue();
            cluster.execute("insert into orders(item) values ('after the rotation')");
            moment = cluster.serverNow();
            atMoment = TableChecksums.of(cluster);
            Thread.sleep(1100);
            cluster.execute("insert into orders(item) values ('after the moment')");
            await(() -> engine.recoveryWindow("shop"), w -> w.end() != null && w.end().isAfter(moment.plusSeconds(1)), Duration.ofSeconds(30));
        }
        Files.delete(oldKey);
        try (Engine engine = Engine.start(underA.withMasterKeys(newKey, List.of()))) {
            assertThat(restored(engine, moment)).isEqualTo(atMoment);
        }
    }

    private void registerAndBackUp(Engine engine) throws Exception {
        PostgresCluster cluster = scratch.cluster;
        engine.register(new RegisterDatabase("shop", cluster.url(), cluster.dataDirectory().toString(), null, null), "alice");
        BackupView backup = engine.requestBaseBackup("shop", "alice");
        BackupView done = await(() -> engine.baseBackup("shop", backup.id()), v -> !v.status().matches("requested|running"),
                Duration.ofMinutes(2));
        assertThat(done.status()).as(done.failure()).isEqualTo("completed");
    }

    /** Restores shop to moment beside the source and returns the copy's table checksums. */
    private Map<String, String> restored(Engine engine, Instant moment) throws Exception {
        Path target = scratch.tmp.resolve("restored");
        int port = PostgresCluster.freePort();
        RestoreView requested = engine.requestRestore("shop", new RestoreRequest(moment.atOffset(ZoneOffset.UTC), false,
                target.toString(), port, false), "bob");
        RestoreView restored = await(() -> engine.restore("shop", requested.id()), r -> !r.status().matches("requested|running"),
                Duration.ofMinutes(3));
        assertThat(restored.status()).as(restored.failure()).isEqualTo("completed");
        PostgresCluster copy = PostgresCluster.attach(PgServer.factory(scratch.cluster.server().binaries(), ServerUser.detect()).at(target),
                port);
        try {
            return TableChecksums.of(copy);
        } finally {
            copy.stopServer();
        }
    }

    /** Every object of the repository (but the key record) and the key its header names, read without any key. */
    private Map<String, String> keysOfObjects() throws IOException {
        Map<String, String> keys = new TreeMap<>();
        try (FileObjectStore store = new FileObjectStore(scratch.tmp.resolve("repo"));
             var objects = store.list("db/")) {
            for (ObjectInfo object : (Iterable<ObjectInfo>) objects::iterator) {
                if (dev.tidemark.storage.AppendedPieces.is(object.key())) { // records of their own, each under its key
                    keys.put(object.key(), String.join(",", dev.tidemark.storage.AppendedPieces.keys(store, object.key())));
                    continue;
                }
                try (InputStream head = store.get(object.key(), 0, Codec.MAX_HEADER)) {
                    keys.put(object.key(), Codec.keyFingerprint(head, object.key()));
                }
            }
        }
        return keys;
    }
}
