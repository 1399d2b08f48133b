package dev.tidemark.engine.basebackup;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.tidemark.storage.codec.Codec;
import dev.tidemark.storage.codec.Xxh64;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;

/**
 * Everything needed to rebuild a data directory from a base backup: per file where its bytes are and their
 * checksum, the backup label, the tablespaces, and the WAL positions. Written last; a backup without it does not exist.
 */
public record BackupManifest(
        int formatVersion,
        String databaseId,
        String backupId,
        String chain,
        String systemIdentifier,
        int serverVersionNum,
        int timeline,
        long walSegmentSize,
        String startLsn,
        String stopLsn,
        Instant startTime,
        Instant consistencyTime,
        boolean fromStandby,
        boolean dataChecksums,
        String backupLabel,
        String tablespaceMap,
        List<Tablespace> tablespaces,
        List<BundleObject> objects,
        List<FileEntry> files,
        List<BadPage> badPages,
        long totalBytes,
        Configuration configuration) {

    /**
     * 2: large files in pieces (FileEntry.fileOffset). 3: the server's configuration files from outside its data
     * directory (under {@link #EXTERNAL_CONFIG}, described by {@link #configuration}). 4: files may carry an XXH64
     * checksum instead of SHA-256 (FileEntry.xxh64). A backup with SHA-256 checksums whose configuration lies in its
     * data directory is written as format 2, which older versions read; one with XXH64 checksums as format 4, which
     * they refuse with "upgrade Tidemark" rather than fail on a checksum they do not know. A restore reads formats 1 to 4.
     */
    public static final int FORMAT_VERSION = 4;

    /**
     * Whether the server read its configuration from outside its data directory (a Debian cluster's /etc, config_file set
     * elsewhere), or the backup has no postgresql.conf: its data directory as kept here does not start with the server's
     * own settings; a download keeps those under {@link #EXTERNAL_CONFIG}.
     */
    public boolean configurationOutside() {
        return configuration != null && configuration.hasExternal() || files.stream().noneMatch(e -> e.path().equals("postgresql.conf"));
    }
    public static final int FORMAT_WITH_EXTERNAL_CONFIG = 3;
    public static final int FORMAT_WITHOUT_EXTERNAL_CONFIG = 2;

    /**
     * Where the files of the server's configuration that lie outside its data directory are kept among the backup's
     * files: this directory, then their absolute path (/etc/postgresql/16/main/pg_hba.conf is kept as
     * tidemark-external-config/etc/postgresql/16/main/pg_hba.conf).
     */
    public static final String EXTERNAL_CONFIG = "tidemark-external-config";

    /** The path among the backup's files of a configuration file kept from outside the data directory. */
    public static String externalPath(String absolutePath) {
        if (!absolutePath.startsWith("/")) {
            throw new IllegalArgumentException("not an absolute path: " + absolutePath);
        }
        return EXTERNAL_CONFIG + absolutePath;
    }

    /** Whether path (among the backup's files) is a configuration file (or a directory of them) kept from outside. */
    public static boolean isExternal(String path) {
        return path.equals(EXTERNAL_CONFIG) || path.startsWith(EXTERNAL_CONFIG + "/");
    }

    private static final ObjectMapper JSON = new ObjectMapper()
            .registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /**
     * A directory, symbolic link or regular file of the data directory, with where its bytes are kept. A large file
     * is kept in pieces, each its own object: one entry per piece, with the same path, the piece's place in the file
     * (fileOffset), its size and checksum; a restore writes the pieces in parallel. (Format 1 has no pieces.)
     *
     * <p>The checksum of a file's (or piece's) bytes is sha256 up to format 3, and in format 4 either sha256 or xxh64
     * (XXH64, hex of its big-endian value, as xxhsum -H1 prints it; sha256 then null): XXH64 where the repository is
     * encrypted, every object authenticated by AES-GCM (docs/storage.md, "File checksums").
     */
    public record FileEntry(String path, char type, long size, int mode, Instant mtime, String sha256, int object,
                            long offset, String linkTarget, long fileOffset, String xxh64) {
        public static final char FILE = 'f';
        public static final char DIRECTORY = 'd';

        /** The recorded checksum of the bytes, hex: XXH64 where the entry has one, else SHA-256. */
        public String checksum() {
            return xxh64 != null ? xxh64 : sha256;
        }

        /** "XXH64" or "SHA-256": the algorithm of {@link #checksum()}, for messages. */
        public String checksumAlgorithm() {
            return xxh64 != null ? Xxh64.NAME : "SHA-256";
        }

        /** A fresh digest of the algorithm this entry's checksum was made with. */
        public MessageDigest newDigest() {
            return xxh64 != null ? new Xxh64() : Codec.sha256();
        }

        /** Whether a digest (of {@link #newDigest()}) over the bytes gives the recorded checksum; consumes the digest. */
        public boolean matches(MessageDigest digest) {
            return HexFormat.of().formatHex(digest.digest()).equals(checksum());
        }

        /**
         * Reads this file's bytes (size of them) from its object's stream, positioned at its offset, into out, and checks
         * them against its checksum: what a download and a verification both do. bytes hears every chunk read.
         */
        public void copyChecked(InputStream in, java.io.OutputStream out, String objectKey, byte[] buffer,
                                java.util.function.LongConsumer bytes) throws IOException {
            MessageDigest digest = newDigest();
            for (long left = size; left > 0; ) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                if (n < 0) {
                    throw new IOException("object " + objectKey + " ended inside " + path + ": the backup is damaged");
                }
                digest.update(buffer, 0, n);
                out.write(buffer, 0, n);
                left -= n;
                bytes.accept(n);
            }
            String actual = HexFormat.of().formatHex(digest.digest());
            if (!actual.equals(checksum())) {
                throw new IOException("checksum mismatch for " + path + " in object " + objectKey + ": the manifest says "
                        + checksumAlgorithm() + " " + checksum() + ", the stored bytes have " + actual + "; the backup is damaged");
            }
        }
    }

    /**
     * One repository object holding the bytes of one or more files back to back. sha256: of its plaintext in format
     * 1; null from format 2 on, where the files' own checksums cover every byte of it.
     */
    public record BundleObject(int number, String key, String sha256, long plainBytes, long storedBytes) {
    }

    /** A tablespace: pg_tblspc/{oid} pointed to location on the source server. */
    public record Tablespace(String oid, String location) {
    }

    /**
     * Where the server kept its files when the backup was taken (as it reported them; absolute paths). external: the
     * ones outside the data directory, kept under {@link #EXTERNAL_CONFIG}. debianVersion and debianCluster: set when
     * Debian's postgresql-common managed the cluster (pg_ctlcluster VERSION NAME). Null in manifests from before format 3.
     */
    public record Configuration(String dataDirectory, String configFile, String hbaFile, String identFile, List<String> external,
                                String debianVersion, String debianCluster) {
        public boolean hasExternal() {
            return external != null && !external.isEmpty();
        }
    }

    /** A page whose checksum did not match while it was read. */
    public record BadPage(String path, long block, int expected, int actual) {
    }

    public byte[] toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serialise the manifest of " + backupId, e);
        }
    }

    public static BackupManifest fromJson(InputStream in, String what) throws IOException {
        BackupManifest m = JSON.readValue(in, BackupManifest.class);
        if (m.formatVersion() > FORMAT_VERSION) {
            throw new IOException(what + " has manifest format " + m.formatVersion() + ", newer than this Tidemark understands ("
                    + FORMAT_VERSION + "): upgrade Tidemark to restore it");
        }
        return m;
    }
}
