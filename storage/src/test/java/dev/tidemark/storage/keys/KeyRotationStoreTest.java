package dev.tidemark.storage.keys;

import dev.tidemark.storage.AppendedPieces;
import dev.tidemark.storage.Appender;
import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.codec.MasterKey;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;
import dev.tidemark.storage.testing.S3ProxyServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The rotation over a store: version 1 and 2 objects, a partial WAL segment left to the second pass, an interruption, and
 * another writer (retention deleting, the streamer replacing) busy with an object while it is rewritten.
 */
class KeyRotationStoreTest {
    private static final MasterKey A = MasterKey.generate();
    private static final MasterKey B = MasterKey.generate();
    private static final String WAL = "db/shop/chains/1-15/wal/";

    @TempDir
    Path dir;

    private static Repository repository(ObjectStore store, MasterKey key, MasterKey... previous) {
        return new Repository(store, new RepositoryLayout(""), new Codec(CodecSettings.defaults(key).withPreviousKeys(List.of(previous))));
    }

    private static void put(Repository repository, String key, String content) throws IOException {
        repository.putEncoded(key, new ByteArrayInputStream(content.getBytes(StandardCharsets.UTF_8)));
    }

    private static String read(Repository repository, String key) throws IOException {
        try (InputStream in = repository.openDecoded(key)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** A repository under A with a few objects and a partial segment. */
    private FileObjectStore filled() throws IOException {
        return fill(new FileObjectStore(dir.resolve("repo")));
    }

    private static <S extends ObjectStore> S fill(S store) throws IOException {
        Repository underA = repository(store, A);
        KeyRecord.steady(A.fingerprint()).write(underA);
        put(underA, "db/shop/base/b1/manifest", "manifest");
        put(underA, "db/shop/base/b1/data/0", "bundle");
        put(underA, WAL + "000000010000000000000001", "segment 1");
        put(underA, WAL + "000000010000000000000002.partial", "segment 2, partly");
        put(underA, "db/shop/events/00000000000000000000", "events");
        return store;
    }

    private Map<String, String> keysOf(ObjectStore store) throws IOException {
        Map<String, String> keys = new TreeMap<>();
        try (Stream<ObjectInfo> objects = store.list("")) {
            for (ObjectInfo object : (Iterable<ObjectInfo>) objects::iterator) {
                try (InputStream head = store.get(object.key(), 0, Codec.MAX_HEADER)) {
                    keys.put(object.key(), Codec.keyFingerprint(head, object.key()));
                }
            }
        }
        return keys;
    }

    /** Starts the rotation as the engine does when the new key is configured and the old one is a previous key. */
    private Repository rotating(ObjectStore store) throws IOException {
        Repository repository = repository(store, B, A);
        new KeyRecord(B.fingerprint(), List.of(A.fingerprint())).write(repository);
        return repository;
    }

    @Test
    void interruptedThenResumedEveryObjectEndsUnderTheNewKeyVersion1ObjectsEncryptedAgain() throws IOException {
        FileObjectStore store = filled();
        Path keyFile = dir.resolve("v1.key");
        try (InputStream in = getClass().getResourceAsStream("/codec-v1/master.key")) {
            Files.write(keyFile, in.readAllBytes());
        }
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
        MasterKey v1Key = MasterKey.load(keyFile);
        try (InputStream in = getClass().getResourceAsStream("/codec-v1/zstd-300000.v1")) {
            store.put("db/shop/dump/d1/dump", in);
        }
        Repository repository = repository(store, B, A, v1Key);
        new KeyRecord(B.fingerprint(), List.of(A.fingerprint(), v1Key.fingerprint())).write(repository);

        List<String> progress = new ArrayList<>();
        assertThatThrownBy(() -> KeyRotation.run(repository, (pass, done, total) -> {
            progress.add(pass + ":" + done + "/" + total);
            if (done == 3) {
                throw new IllegalStateException("killed");
            }
        })).hasMessage("killed");
        assertThat(progress).containsExactly("1:1/6", "1:2/6", "1:3/6");
        assertThat(KeyRecord.read(repository).orElseThrow().rotating()).isTrue();

        KeyRotation.Summary summary = KeyRotation.run(repository, (pass, done, total) -> { });
        assertThat(summary.complete()).as(summary.remaining().toString()).isTrue();
        assertThat(summary.objects()).isEqualTo(6);
        assertThat(summary.alreadyUnder()).isEqualTo(3);
        assertThat(summary.reencrypted()).isEqualTo(1);
        assertThat(summary.rewrapped()).isEqualTo(2); // the events and, in the second pass, the partial segment
        assertThat(keysOf(store)).allSatisfy((object, key) -> assertThat(key).as(object).isEqualTo(B.fingerprint()));
        assertThat(KeyRecord.read(repository).orElseThrow()).isEqualTo(KeyRecord.steady(B.fingerprint()));

        Repository onlyB = repository(store, B);
        assertThat(read(onlyB, WAL + "000000010000000000000002.partial")).isEqualTo("segment 2, partly");
        assertThat(read(onlyB, "db/shop/base/b1/manifest")).isEqualTo("manifest");
        try (InputStream in = onlyB.openDecoded("db/shop/dump/d1/dump")) {
            assertThat(in.readAllBytes()).hasSize(300_000);
        }
    }

    @Test
    void piecesAppendedUnderTheOldKeyKeepTheRotationOpenUntilTheirObjectGoes() throws IOException {
        FileObjectStore store = filled();
        String segment = "000000010000000000000002";
        String appended = WAL + segment + ".partial" + AppendedPieces.SUFFIX;
        byte[] wal = "the WAL of segment 2".getBytes(StandardCharsets.UTF_8);
        try (Appender appender = store.appender(appended).orElseThrow()) {
            AppendedPieces.append(appender, repository(store, A).codec(), segment, 18, wal, 0, wal.length);
        }
        Repository repository = rotating(store);
        KeyRotation.Summary summary = KeyRotation.run(repository, (pass, done, total) -> { });
        assertThat(summary.complete()).isFalse();
        assertThat(summary.remaining()).singleElement().asString().startsWith(appended + ": pieces of a WAL segment")
                .contains(A.fingerprint());
        assertThat(AppendedPieces.read(repository, appended)).singleElement().satisfies(r -> assertThat(r.bytes()).isEqualTo(wal));
        // the stream stored the segment whole and removed its pieces; appended under the new key they are not in the way
        store.delete(appended);
        try (Appender appender = store.appender(appended).orElseThrow()) {
            AppendedPieces.append(appender, repository.codec(), segment, 18, wal, 0, wal.length);
        }
        assertThat(KeyRotation.run(repository, (pass, done, total) -> { }).complete()).isTrue();
    }

    @Test
    void onS3TheRotationFinishesAndAnObjectReplacedMeanwhileIsLeftToItsWriter() throws IOException {
        String partial = WAL + "000000010000000000000002.partial";
        try (S3ProxyServer s3 = S3ProxyServer.start(); ObjectStore inner = fill(s3.store("rotation"))) {
            Repository streamer = repository(inner, B, A);
            ObjectStore store = new Busy(inner, partial, s -> put(streamer, partial, "segment 2, grown further"));
            KeyRotation.Summary summary = KeyRotation.run(rotating(store), (pass, done, total) -> { });
            assertThat(summary.complete()).as(summary.remaining().toString()).isTrue();
            assertThat(summary.rewrapped()).isEqualTo(4);
            assertThat(summary.leftAlone()).isEqualTo(1);
            assertThat(keysOf(inner)).allSatisfy((object, key) -> assertThat(key).as(object).isEqualTo(B.fingerprint()));
            assertThat(read(repository(inner, B), partial)).isEqualTo("segment 2, grown further");
        }
    }

    @Test
    void anObjectDeletedWhileItIsRewrittenStaysDeleted() throws IOException {
        String doomed = WAL + "000000010000000000000001";
        ObjectStore store = new Busy(filled(), doomed, inner -> inner.delete(doomed));
        KeyRotation.Summary summary = KeyRotation.run(rotating(store), (pass, done, total) -> { });
        assertThat(summary.complete()).as(summary.remaining().toString()).isTrue();
        assertThat(summary.leftAlone()).isEqualTo(1);
        assertThat(store.stat(doomed)).isEmpty();
    }

    @Test
    void anObjectTheStreamerReplacesWhileItIsRewrittenKeepsTheNewerCopy() throws IOException {
        String partial = WAL + "000000010000000000000002.partial";
        FileObjectStore inner = filled();
        Repository streamer = repository(inner, B, A);
        ObjectStore store = new Busy(inner, partial, s -> put(streamer, partial, "segment 2, grown further"));
        KeyRotation.Summary summary = KeyRotation.run(rotating(store), (pass, done, total) -> { });
        assertThat(summary.complete()).as(summary.remaining().toString()).isTrue();
        assertThat(read(repository(inner, B), partial)).isEqualTo("segment 2, grown further");
    }

    @Test
    void anEngineStillWritingWithTheOldKeyKeepsTheRotationOpen() throws IOException {
        String partial = WAL + "000000010000000000000002.partial";
        FileObjectStore inner = filled();
        Repository oldEngine = repository(inner, A);
        ObjectStore store = new Busy(inner, partial, s -> put(oldEngine, partial, "segment 2, grown under the old key"));
        Repository repository = rotating(store);
        KeyRotation.Summary summary = KeyRotation.run(repository, (pass, done, total) -> { });
        assertThat(summary.complete()).isFalse();
        assertThat(summary.remaining()).singleElement().asString().contains(partial).contains("must write with " + B.fingerprint());
        assertThat(KeyRecord.read(repository).orElseThrow().rotatingFrom()).containsExactly(A.fingerprint());
        assertThat(read(repository, partial)).isEqualTo("segment 2, grown under the old key");
    }

    @Test
    void aRotationToTheKeyTheRepositoryHasChangesNothingAndOneToAnotherKeyNeedsTheRecordFirst() throws IOException {
        FileObjectStore store = filled();
        Map<String, String> before = keysOf(store);
        KeyRotation.Summary same = KeyRotation.run(repository(store, A), (pass, done, total) -> { });
        assertThat(same.complete()).isTrue();
        assertThat(same.alreadyUnder()).isEqualTo(5);
        assertThat(same.rewrapped() + same.reencrypted()).isZero();
        assertThatThrownBy(() -> KeyRotation.run(repository(store, B, A), (pass, done, total) -> { }))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("records master key " + A.fingerprint())
                .hasMessageContaining("not master key " + B.fingerprint());
        assertThat(keysOf(store)).isEqualTo(before);
    }

    /** Another writer busy with one object: on the rotation's write of it, the action runs before the write goes on. */
    private interface Action {
        void run(ObjectStore inner) throws IOException;
    }

    private static final class Busy implements ObjectStore {
        private final ObjectStore inner;
        private final String key;
        private final Action action;

        Busy(ObjectStore inner, String key, Action action) {
            this.inner = inner;
            this.key = key;
            this.action = action;
        }

        @Override
        public ObjectWriter create(String name) throws IOException {
            if (name.equals(key)) {
                action.run(inner);
            }
            return inner.create(name);
        }

        @Override
        public InputStream get(String name) throws IOException {
            return inner.get(name);
        }

        @Override
        public InputStream get(String name, long offset, long length) throws IOException {
            return inner.get(name, offset, length);
        }

        @Override
        public Optional<ObjectInfo> stat(String name) throws IOException {
            return inner.stat(name);
        }

        @Override
        public Stream<ObjectInfo> list(String prefix) throws IOException {
            return inner.list(prefix);
        }

        @Override
        public void delete(String name) throws IOException {
            inner.delete(name);
        }

        @Override
        public void deleteAll(Collection<String> keys) throws IOException {
            inner.deleteAll(keys);
        }

        @Override
        public String describe() {
            return inner.describe();
        }
    }
}
