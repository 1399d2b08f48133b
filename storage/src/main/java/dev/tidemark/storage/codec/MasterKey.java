package dev.tidemark.storage.codec;

import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Set;

/**
 * The repository's AES-256 master key. It wraps the random data key of every object; losing it makes every
 * encrypted object unreadable. Kept in a file of one base64 line, mode 0600. Never printed: toString is redacted.
 */
public final class MasterKey {
    private static final SecureRandom RANDOM = new SecureRandom();
    private final byte[] key;

    private MasterKey(byte[] key) {
        this.key = key.clone();
    }

    public static MasterKey generate() {
        byte[] key = new byte[32];
        RANDOM.nextBytes(key);
        return new MasterKey(key);
    }

    /** Reads a key file: one line of base64 holding 32 bytes, in a file no one but its owner may use. */
    public static MasterKey load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("master key file " + file + " does not exist: create one with 'tidemark key generate " + file
                    + "' or point the configuration at the existing key");
        }
        refuseIfOthersMayUse(file);
        String text = Files.readString(file, StandardCharsets.US_ASCII).trim();
        byte[] key;
        try {
            key = Base64.getDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            throw new IOException("master key file " + file + " is not base64: it must hold one line of base64 encoding 32 bytes");
        }
        if (key.length != 32) {
            throw new IOException("master key file " + file + " holds " + key.length + " bytes; an AES-256 key has 32");
        }
        return new MasterKey(key);
    }

    /** The key decrypts every backup: a file its group or others may read (or replace) is refused, not used. */
    private static void refuseIfOthersMayUse(Path file) throws IOException {
        Set<PosixFilePermission> mode;
        try {
            mode = Files.getPosixFilePermissions(file);
        } catch (UnsupportedOperationException e) {
            return; // no POSIX permissions on this file system: nothing to check
        }
        if (mode.stream().anyMatch(p -> p.name().startsWith("GROUP") || p.name().startsWith("OTHERS"))) {
            throw new IOException("master key file " + file + " has mode " + PosixFilePermissions.toString(mode) + ": other users may"
                    + " read the key that decrypts every backup, so it is not used; run 'chmod 600 " + file + "' (and check who"
                    + " could have read it)");
        }
    }

    /** Writes the key to a new file readable only by its owner; refuses to overwrite an existing key. */
    public void writeTo(Path file) throws IOException {
        if (Files.exists(file)) {
            throw new FileAlreadyExistsException(file + ": refusing to overwrite an existing master key");
        }
        if (file.toAbsolutePath().getParent() != null) {
            Files.createDirectories(file.toAbsolutePath().getParent());
        }
        byte[] line = (Base64.getEncoder().encodeToString(key) + "\n").getBytes(StandardCharsets.US_ASCII);
        try {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException e) {
            Files.createFile(file);
        }
        Files.write(file, line, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.SYNC);
    }

    /** A short public identifier of the key (16 hex digits), written into object headers to recognise the wrong key. */
    public String fingerprint() {
        return HexFormat.of().formatHex(fingerprintBytes());
    }

    byte[] fingerprintBytes() {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update("tidemark master key fingerprint".getBytes(StandardCharsets.US_ASCII));
            byte[] full = digest.digest(key);
            byte[] out = new byte[8];
            System.arraycopy(full, 0, out, 0, 8);
            return out;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    SecretKey secretKey() {
        return new SecretKeySpec(key, "AES");
    }

    @Override
    public String toString() {
        return "MasterKey[fingerprint=" + fingerprint() + "]";
    }
}
