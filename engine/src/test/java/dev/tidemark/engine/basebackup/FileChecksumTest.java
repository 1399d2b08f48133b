package dev.tidemark.engine.basebackup;

import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerUser;
import dev.tidemark.engine.restore.RestoreRunner;
import dev.tidemark.engine.testing.PostgresCluster;
import dev.tidemark.engine.testing.StreamedCluster;
import dev.tidemark.engine.testing.TableChecksums;
import dev.tidemark.engine.testing.TestRepositories;
import dev.tidemark.engine.wal.WalListener;
import dev.tidemark.storage.Repository;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.CodecSettings;
import dev.tidemark.storage.file.FileObjectStore;
import dev.tidemark.storage.layout.RepositoryLayout;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * File checksums of base backups: XXH64 in an encrypted repository, SHA-256 otherwise or when asked. A backup of each
 * kind restores exactly and downloads whole; a manifest written before XXH64 existed (no xxh64 field) still reads and
 * checks; and an object replaced by another backup's (its chunks authenticate, it is just not this backup's) is caught
 * by the file checksums.
 */
class FileChecksumTest {

    @Test
    void theChecksumFollowsTheRepositorysEncryption() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-fc-");
        try {
            Repository encrypted = TestRepositories.file(tmp.resolve("a"));
            Repository plain = new Repository(new FileObjectStore(tmp.resolve("b")), new RepositoryLayout(""),
                    new Codec(CodecSettings.defaults(null)));
            assertThat(FileChecksum.choose(encrypted, "auto")).isEqualTo(FileChecksum.XXH64);
            assertThat(FileChecksum.choose(encrypted, null)).isEqualTo(FileChecksum.XXH64);
            assertThat(FileChecksum.choose(encrypted, "sha256")).isEqualTo(FileChecksum.SHA256);
            assertThat(FileChecksum.choose(plain, "auto")).as("CRC32C chunks: only SHA-256 binds the content").isEqualTo(FileChecksum.SHA256);
            assertThatThrownBy(() -> FileChecksum.choose(encrypted, "md5")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("tidemark.backup.file-checksum is 'md5'").hasMessageContaining("'sha256'");
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    @Test
    void bothChecksumsRestoreExactlyAndASwappedObjectIsCaught() throws Exception {
        Path tmp = Files.createTempDirectory("tidemark-fc-");
        ServerUser user = ServerUser.detect();
        user.ownOne(tmp);
        Repository repo = TestRepositories.file(tmp.resolve("repo"));
        try (StreamedCluster db = new StreamedCluster(PostgresCluster.start(), repo, "fc")) {
            db.startStreaming(WalListener.NONE);
            db.cluster.execute("create table t(id int primary key, v text)",
                    "insert into t select g, md5(g::text) from generate_series(1, 120000) g", "checkpoint");
            BaseBackupRunner.Settings settings = BaseBackupRunner.Settings.defaults().withWorkers(2).withPieceBytes(1 << 20);
            BaseBackupRunner.Result sha = new BaseBackupRunner(repo, settings)
                    .run("fc", "b-sha", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            db.cluster.execute("update t set v = v || 'x' where id % 3 = 0", "checkpoint");
            BaseBackupRunner.Result xxh = new BaseBackupRunner(repo, settings.withFileChecksum(FileChecksum.XXH64))
                    .run("fc", "b-xxh", db.connections(), db.cluster.dataDirectory(), db.durableWal());
            Map<String, String> atEnd = TableChecksums.of(db.cluster);

            BackupManifest old = sha.manifest();
            BackupManifest m = xxh.manifest();
            assertThat(old.formatVersion()).isLessThan(BackupManifest.FORMAT_VERSION);
            assertThat(m.formatVersion()).isEqualTo(BackupManifest.FORMAT_VERSION);
            assertThat(old.files()).filteredOn(e -> e.type() == BackupManifest.FileEntry.FILE)
                    .allSatisfy(e -> assertThat(e.sha256()).hasSize(64)).allSatisfy(e -> assertThat(e.xxh64()).isNull());
            assertThat(m.files()).filteredOn(e -> e.type() == BackupManifest.FileEntry.FILE)
                    .allSatisfy(e -> assertThat(e.xxh64()).hasSize(16)).allSatisfy(e -> assertThat(e.sha256()).isNull());

            // a manifest as versions before XXH64 wrote it (no xxh64 field at all) reads with its SHA-256 checksums
            String json = new String(old.toJson(), StandardCharsets.UTF_8);
            String withoutField = json.replaceAll(",\\s*\"xxh64\" : null", "");
            assertThat(withoutField).doesNotContain("xxh64");
            BackupManifest reread = BackupManifest.fromJson(new ByteArrayInputStream(withoutField.getBytes(StandardCharsets.UTF_8)), "old");
            assertThat(reread).isEqualTo(old);

            // both download whole, every file checked against its own kind of checksum
            BackupArchive archive = new BackupArchive(repo);
            archive.write(reread, archive.wal(reread).orElseThrow(), OutputStream.nullOutputStream(), n -> { });
            archive.write(m, archive.wal(m).orElseThrow(), OutputStream.nullOutputStream(), n -> { });

            // both restore exactly (to the latest moment: the earlier one with the update replayed from WAL)
            assertThat(restore(db, repo, user, tmp.resolve("r-sha"), "b-sha", sha.manifestSha256())).isEqualTo(atEnd);
            assertThat(restore(db, repo, user, tmp.resolve("r-xxh"), "b-xxh", xxh.manifestSha256())).isEqualTo(atEnd);

            // the first piece of t in the XXH64 backup replaced by the same piece of the earlier backup: a valid object the
            // engine wrote, whose every chunk authenticates, but not the bytes this manifest lists
            String relation;
            try (Connection c = db.cluster.connect(); Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("select pg_relation_filepath('t')")) {
                r.next();
                relation = r.getString(1);
            }
            Path root = tmp.resolve("repo");
            String newer = keyOfFirstPiece(m, relation);
            Files.copy(root.resolve(keyOfFirstPiece(old, relation)), root.resolve(newer), StandardCopyOption.REPLACE_EXISTING);
            assertThatThrownBy(() -> archive.write(m, archive.wal(m).orElseThrow(), OutputStream.nullOutputStream(), n -> { }))
                    .isInstanceOf(IOException.class).hasMessageContaining("checksum mismatch for " + relation)
                    .hasMessageContaining("the manifest says XXH64");
            assertThatThrownBy(() -> new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user))
                    .run(new RestoreRunner.Request("fc", "r-bad", "b-xxh", xxh.manifestSha256(), Optional.empty(), tmp.resolve("r-bad"),
                            PostgresCluster.freePort(), false, "postgres", 2, Duration.ofMinutes(3))))
                    .hasStackTraceContaining("checksum mismatch for " + relation);
        } finally {
            PostgresCluster.deleteTree(tmp);
        }
    }

    private static String keyOfFirstPiece(BackupManifest m, String path) {
        BackupManifest.FileEntry first = m.files().stream().filter(e -> e.path().equals(path) && e.fileOffset() == 0).findFirst()
                .orElseThrow();
        return m.objects().stream().filter(o -> o.number() == first.object()).findFirst().orElseThrow().key();
    }

    private static Map<String, String> restore(StreamedCluster db, Repository repo, ServerUser user, Path target, String backupId,
                                               String manifestSha256) throws Exception {
        int port = PostgresCluster.freePort();
        new RestoreRunner(repo, PgServer.factory(db.cluster.server().binaries(), user)).run(new RestoreRunner.Request("fc",
                "r-" + backupId, backupId, manifestSha256, Optional.empty(), target, port, false, "postgres", 2, Duration.ofMinutes(3)));
        PostgresCluster restored = PostgresCluster.attach(PgServer.factory(db.cluster.server().binaries(), user).at(target), port);
        try {
            return TableChecksums.of(restored);
        } finally {
            restored.stopServer();
        }
    }
}
