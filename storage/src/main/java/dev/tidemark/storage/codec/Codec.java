package dev.tidemark.storage.codec;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.zip.CRC32C;

/**
 * The codec pipeline every stored object goes through: SHA-256 of the plaintext, compression, then chunked
 * authenticated encryption (AES-256-GCM, a random data key per object wrapped by the master key).
 *
 * <p>Object format: {@code "TDMK" | version | compression | encryption | [key fingerprint(8) | wrap nonce(12) | wrapped
 * data key(48)]}, then frames {@code int32 (final flag << 31 | length) | payload}. An encrypted payload is the GCM
 * ciphertext and tag of one chunk (nonce = chunk number, additional data = the chunk's binding, chunk number and final
 * flag); an unencrypted payload is the chunk followed by its CRC32C. The final flag makes truncation detectable and the
 * chunk number in the nonce makes reordering detectable. Version 1 binds the whole header into every chunk; version 2
 * (written now) binds the header without its wrap fields, so the data key can be wrapped anew under another master key by
 * rewriting the header alone ({@link #rewrap}): the wrap carries its own tag, and a swapped data key fails every chunk.
 *
 * <p>Reading picks the master key by the fingerprint in the header among the configured key and the previous keys
 * (during a key rotation both read); writing uses the configured key.
 */
public final class Codec {
    static final byte[] MAGIC = "TDMK".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 2;
    static final int CHUNK = 256 * 1024;
    private static final int ENC_NONE = 0;
    private static final int ENC_AES_GCM = 1;
    private static final int TAG_BITS = 128;
    private static final int MAX_FRAME = CHUNK + 64;
    private static final int FIXED = 7;
    /** The longest header: the fixed part and the wrap fields; enough to read which key an object needs. */
    public static final int MAX_HEADER = FIXED + 8 + 12 + 48;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final CodecSettings settings;

    public Codec(CodecSettings settings) {
        this.settings = settings;
    }

    public CodecSettings settings() {
        return settings;
    }

    /** Encodes everything written to the returned stream into sink; {@link EncodingStream#close()} finishes without closing sink. */
    public EncodingStream encode(OutputStream sink, String name) throws IOException {
        return encode(sink, name, true);
    }

    /**
     * As {@link #encode(OutputStream, String)}; without hashPlaintext the stream keeps no SHA-256 of the plaintext
     * (for objects whose every byte the caller checksums already, like bundles of files: one pass less over the data).
     * Integrity does not depend on it: every chunk carries its GCM tag (or CRC) and the last one says it is last.
     */
    public EncodingStream encode(OutputStream sink, String name, boolean hashPlaintext) throws IOException {
        SecretKey dataKey = settings.key() == null ? null : newDataKey();
        Header header = Header.create(settings.compression(), settings.key(), dataKey);
        CountingOutputStream counted = new CountingOutputStream(sink);
        counted.write(header.bytes());
        FrameOutputStream frames = new FrameOutputStream(counted, header.chunkBinding(), dataKey);
        return new EncodingStream(settings.compression().compress(frames, settings.level()), counted, hashPlaintext);
    }

    /** Decodes an object read from source; name is used in error messages only. Closing it closes source. */
    public InputStream decode(InputStream source, String name) throws IOException {
        DataInputStream in = new DataInputStream(source);
        Header header = Header.read(in, name);
        SecretKey dataKey = null;
        if (header.encrypted()) {
            dataKey = header.unwrap(masterKeyFor(header, name), name);
        } else if (settings.key() != null) {
            // an unencrypted object in an encrypted repository carries only CRCs, which anyone can compute: taking it
            // would let whoever can write to the bucket replace WAL or backups unnoticed
            throw new ObjectTamperedException(name + " is not encrypted, but this repository is (master key "
                    + settings.key().fingerprint() + "): it was not written by this repository's engine. If the repository was"
                    + " written without encryption before a key was configured, read it with 'encryption: none'");
        }
        FrameInputStream frames = new FrameInputStream(in, header.chunkBinding(), dataKey, name);
        InputStream plain;
        try {
            plain = header.compression().decompress(frames);
        } catch (IOException e) {
            if (e instanceof CodecException) {
                throw e;
            }
            throw new CodecException(name + ": its compressed stream is corrupt (" + e.getMessage() + ")", e);
        }
        return new GuardedInputStream(plain, frames, name);
    }

    /** The fingerprint of the master key an object was encrypted with, read from its first bytes; null when it is not encrypted. */
    public static String keyFingerprint(InputStream source, String name) throws IOException {
        Header header = Header.read(new DataInputStream(source), name);
        return header.encrypted() ? HexFormat.of().formatHex(header.fingerprint) : null;
    }

    /** What {@link #rewrap} did to an object. */
    public enum Rewrap {
        /** Version 2: its data key wrapped anew under the configured key, the frames copied byte for byte. */
        REWRAPPED,
        /** Version 1, whose chunks bind the wrapped key: decrypted and encrypted again as version 2 under a new data key. */
        REENCRYPTED
    }

    /**
     * Copies an encrypted object from source to sink with its data key under the configured master key, unwrapping it with
     * whichever configured or previous key the object names. The plaintext, the compressed stream and (for version 2) every
     * stored byte after the header stay as they were; a version 1 object is encrypted again, chunk for chunk.
     */
    public Rewrap rewrap(InputStream source, OutputStream sink, String name) throws IOException {
        if (settings.key() == null) {
            throw new IllegalStateException("no master key is configured: there is nothing to wrap data keys with");
        }
        DataInputStream in = new DataInputStream(source);
        Header old = Header.read(in, name);
        if (!old.encrypted()) {
            throw new ObjectTamperedException(name + " is not encrypted, but this repository is (master key "
                    + settings.key().fingerprint() + "): it was not written by this repository's engine; it was left as it is");
        }
        SecretKey dataKey = old.unwrap(masterKeyFor(old, name), name);
        if (old.version == VERSION) {
            sink.write(Header.create(old.compression(), settings.key(), dataKey).bytes());
            in.transferTo(sink);
            sink.flush();
            return Rewrap.REWRAPPED;
        }
        FrameInputStream frames = new FrameInputStream(in, old.chunkBinding(), dataKey, name);
        SecretKey fresh = newDataKey(); // the old data key sealed these chunks once already: never twice under one nonce
        Header header = Header.create(old.compression(), settings.key(), fresh);
        sink.write(header.bytes());
        FrameOutputStream out = new FrameOutputStream(sink, header.chunkBinding(), fresh);
        frames.transferTo(out);
        out.close(); // the final frame; sink stays open
        return Rewrap.REENCRYPTED;
    }

    /** The configured or previous master key whose fingerprint the header names, or a WrongKeyException saying which it needs. */
    private MasterKey masterKeyFor(Header header, String name) throws WrongKeyException {
        String wanted = HexFormat.of().formatHex(header.fingerprint);
        if (settings.key() == null) {
            throw new WrongKeyException(name + " is encrypted (key " + wanted
                    + ") but no master key is configured: configure the repository's master key file");
        }
        return settings.readingKeys().stream().filter(k -> Arrays.equals(k.fingerprintBytes(), header.fingerprint)).findFirst()
                .orElseThrow(() -> new WrongKeyException(name + " was encrypted with master key " + wanted + " but the configured key is "
                        + settings.key().fingerprint() + (settings.previousKeys().isEmpty() ? "" : " (previous keys "
                        + settings.previousKeys().stream().map(MasterKey::fingerprint).toList() + ")")
                        + ": configure the key this repository was written with"));
    }

    private static SecretKey newDataKey() {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        SecretKey key = new SecretKeySpec(raw, "AES");
        Arrays.fill(raw, (byte) 0);
        return key;
    }

    /** An object's header: what it was compressed with and, when encrypted, its data key wrapped by a master key. */
    private record Header(int version, Compression compression, byte[] fixed, byte[] fingerprint, byte[] wrapNonce, byte[] wrapped) {

        boolean encrypted() {
            return fingerprint != null;
        }

        byte[] bytes() {
            ByteArrayOutputStream out = new ByteArrayOutputStream(MAX_HEADER);
            out.writeBytes(fixed);
            if (encrypted()) {
                out.writeBytes(fingerprint);
                out.writeBytes(wrapNonce);
                out.writeBytes(wrapped);
            }
            return out.toByteArray();
        }

        /** What every chunk's tag binds: version 1 the whole header, version 2 the header without the wrap fields. */
        byte[] chunkBinding() {
            return version == 1 ? bytes() : fixed;
        }

        /** What the wrap's tag binds besides the data key: version 1 the magic, version 2 the fixed header; and the fingerprint. */
        private static byte[] wrapBinding(int version, byte[] fixed, byte[] fingerprint) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(version == 1 ? MAGIC : fixed);
            out.writeBytes(fingerprint);
            return out.toByteArray();
        }

        /** A version 2 header; dataKey and key both null for an unencrypted object. */
        static Header create(Compression compression, MasterKey key, SecretKey dataKey) {
            byte[] fixed = ByteBuffer.allocate(FIXED).put(MAGIC).put((byte) VERSION).put((byte) compression.id())
                    .put((byte) (key == null ? ENC_NONE : ENC_AES_GCM)).array();
            if (key == null) {
                return new Header(VERSION, compression, fixed, null, null, null);
            }
            byte[] fingerprint = key.fingerprintBytes();
            byte[] wrapNonce = new byte[12];
            RANDOM.nextBytes(wrapNonce);
            try {
                Cipher wrap = Cipher.getInstance("AES/GCM/NoPadding");
                wrap.init(Cipher.ENCRYPT_MODE, key.secretKey(), new GCMParameterSpec(TAG_BITS, wrapNonce));
                wrap.updateAAD(wrapBinding(VERSION, fixed, fingerprint));
                byte[] raw = dataKey.getEncoded();
                byte[] wrapped = wrap.doFinal(raw);
                Arrays.fill(raw, (byte) 0);
                return new Header(VERSION, compression, fixed, fingerprint, wrapNonce, wrapped);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES-GCM is unavailable in this JVM", e);
            }
        }

        static Header read(DataInputStream in, String name) throws IOException {
            byte[] fixed = new byte[FIXED];
            try {
                in.readFully(fixed);
            } catch (EOFException e) {
                throw new ObjectTruncatedException(name + " is too short to be a Tidemark object (" + e.getMessage() + ")");
            }
            if (!Arrays.equals(Arrays.copyOf(fixed, 4), MAGIC)) {
                throw new CodecException(name + " is not a Tidemark object (no TDMK header)");
            }
            if (fixed[4] != 1 && fixed[4] != VERSION) {
                throw new CodecException(name + " has object format version " + fixed[4] + "; this Tidemark reads versions 1 to "
                        + VERSION + ": upgrade Tidemark");
            }
            Compression compression = Compression.byId(fixed[5]);
            if (fixed[6] == ENC_NONE) {
                return new Header(fixed[4], compression, fixed, null, null, null);
            }
            if (fixed[6] != ENC_AES_GCM) {
                throw new CodecException(name + " uses unknown encryption id " + fixed[6]);
            }
            byte[] fingerprint = new byte[8];
            byte[] wrapNonce = new byte[12];
            byte[] wrapped = new byte[48];
            try {
                in.readFully(fingerprint);
                in.readFully(wrapNonce);
                in.readFully(wrapped);
            } catch (EOFException e) {
                throw new ObjectTruncatedException(name + " ends inside its header");
            }
            return new Header(fixed[4], compression, fixed, fingerprint, wrapNonce, wrapped);
        }

        SecretKey unwrap(MasterKey key, String name) throws IOException {
            try {
                Cipher unwrap = Cipher.getInstance("AES/GCM/NoPadding");
                unwrap.init(Cipher.DECRYPT_MODE, key.secretKey(), new GCMParameterSpec(TAG_BITS, wrapNonce));
                unwrap.updateAAD(wrapBinding(version, fixed, fingerprint));
                byte[] raw = unwrap.doFinal(wrapped);
                SecretKey dataKey = new SecretKeySpec(raw, "AES");
                Arrays.fill(raw, (byte) 0);
                return dataKey;
            } catch (AEADBadTagException e) {
                throw new ObjectTamperedException(name + ": its wrapped data key fails authentication; the object was altered");
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES-GCM is unavailable in this JVM", e);
            }
        }
    }

    /** Decodes and, at the end of the stream, checks the content against the SHA-256 recorded when it was stored. */
    public InputStream decode(InputStream source, String name, String expectedSha256Hex) throws IOException {
        return new VerifyingInputStream(decode(source, name), name, expectedSha256Hex);
    }

    /** A SHA-256 digest: the checksum of every object's plaintext and of every file in a manifest. */
    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The writing side: hashes and counts plaintext, then compresses into the frame stream. */
    public static final class EncodingStream extends OutputStream {
        private final OutputStream compressor;
        private final CountingOutputStream encoded;
        private final MessageDigest digest;
        private long plainBytes;
        private boolean finished;
        private String sha256Hex;

        EncodingStream(OutputStream compressor, CountingOutputStream encoded, boolean hashPlaintext) {
            this.compressor = compressor;
            this.encoded = encoded;
            this.digest = hashPlaintext ? sha256() : null;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (finished) {
                throw new IOException("write after the encoding was finished");
            }
            if (digest != null) {
                digest.update(b, off, len);
            }
            plainBytes += len;
            compressor.write(b, off, len);
        }

        /** Writes the final frame; the sink stays open. */
        @Override
        public void close() throws IOException {
            if (!finished) {
                compressor.close();
                finished = true;
                sha256Hex = digest == null ? null : HexFormat.of().formatHex(digest.digest());
            }
        }

        /** SHA-256 of the plaintext, hex, available after close; null when the stream was opened without it. */
        public String sha256Hex() {
            if (!finished) {
                throw new IllegalStateException("the encoding is not finished");
            }
            return sha256Hex;
        }

        public long plainBytes() {
            return plainBytes;
        }

        public long encodedBytes() {
            return encoded.count;
        }
    }

    static final class CountingOutputStream extends OutputStream {
        private final OutputStream out;
        long count;

        CountingOutputStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }
    }

    /** Cuts the compressed stream into chunks and seals each one. Close writes the final frame, not closing the sink. */
    private static final class FrameOutputStream extends OutputStream {
        private final OutputStream out;
        private final byte[] binding;
        private final SecretKey dataKey;
        private final byte[] chunk = new byte[CHUNK];
        private int filled;
        private long number;
        private boolean closed;

        FrameOutputStream(OutputStream out, byte[] binding, SecretKey dataKey) {
            this.out = out;
            this.binding = binding;
            this.dataKey = dataKey;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                if (filled == CHUNK) {
                    emit(false);
                }
                int n = Math.min(len, CHUNK - filled);
                System.arraycopy(b, off, chunk, filled, n);
                filled += n;
                off += n;
                len -= n;
            }
        }

        @Override
        public void close() throws IOException {
            if (!closed) {
                closed = true;
                emit(true);
                out.flush();
            }
        }

        private void emit(boolean last) throws IOException {
            byte[] payload = seal(binding, dataKey, number, last, chunk, filled);
            ByteBuffer frame = ByteBuffer.allocate(4);
            frame.putInt((last ? 0x80000000 : 0) | payload.length);
            out.write(frame.array());
            out.write(payload);
            number++;
            filled = 0;
        }
    }

    private static byte[] seal(byte[] binding, SecretKey dataKey, long number, boolean last, byte[] chunk, int length) {
        if (dataKey == null) {
            CRC32C crc = new CRC32C();
            crc.update(chunk, 0, length);
            crc.update(last ? 1 : 0);
            updateLong(crc, number);
            byte[] payload = Arrays.copyOf(chunk, length + 4);
            ByteBuffer.wrap(payload, length, 4).putInt((int) crc.getValue());
            return payload;
        }
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, dataKey, new GCMParameterSpec(TAG_BITS, nonce(number)));
            cipher.updateAAD(binding);
            cipher.updateAAD(chunkAad(number, last));
            return cipher.doFinal(chunk, 0, length);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is unavailable in this JVM", e);
        }
    }

    private static void updateLong(CRC32C crc, long value) {
        crc.update(ByteBuffer.allocate(8).putLong(value).array());
    }

    private static byte[] nonce(long number) {
        return ByteBuffer.allocate(12).putLong(4, number).array();
    }

    private static byte[] chunkAad(long number, boolean last) {
        return ByteBuffer.allocate(9).putLong(number).put((byte) (last ? 1 : 0)).array();
    }

    /** Reads frames, checks each one, and yields the compressed stream; the end of the final frame must be the end of the object. */
    private static final class FrameInputStream extends InputStream {
        private final DataInputStream in;
        private final byte[] binding;
        private final SecretKey dataKey;
        private final String name;
        private byte[] current = new byte[0];
        private int position;
        private long number;
        private boolean sawLast;
        boolean sourceFailed;

        FrameInputStream(DataInputStream in, byte[] binding, SecretKey dataKey, String name) {
            this.in = in;
            this.binding = binding;
            this.dataKey = dataKey;
            this.name = name;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            while (position == current.length) {
                if (sawLast) {
                    return -1;
                }
                next();
            }
            int n = Math.min(len, current.length - position);
            System.arraycopy(current, position, b, off, n);
            position += n;
            return n;
        }

        private void next() throws IOException {
            try {
                readFrame();
            } catch (CodecException e) {
                throw e;
            } catch (IOException e) {
                sourceFailed = true;
                throw e;
            }
        }

        private void readFrame() throws IOException {
            int word;
            try {
                word = in.readInt();
            } catch (EOFException e) {
                throw new ObjectTruncatedException(name + " ends after " + number + " chunks without its final chunk: the object is truncated");
            }
            boolean last = (word & 0x80000000) != 0;
            int length = word & 0x7fffffff;
            if (length > MAX_FRAME || length < (dataKey == null ? 4 : 16)) {
                throw new ObjectTamperedException(name + ": chunk " + number + " has an impossible length " + length + "; the object is corrupt");
            }
            byte[] payload = new byte[length];
            try {
                in.readFully(payload);
            } catch (EOFException e) {
                throw new ObjectTruncatedException(name + " ends inside chunk " + number + ": the object is truncated");
            }
            current = open(payload, last);
            position = 0;
            number++;
            if (last) {
                sawLast = true;
                if (in.read() != -1) {
                    throw new ObjectTamperedException(name + " has bytes after its final chunk; the object was altered");
                }
            }
        }

        private byte[] open(byte[] payload, boolean last) throws IOException {
            if (dataKey == null) {
                int length = payload.length - 4;
                CRC32C crc = new CRC32C();
                crc.update(payload, 0, length);
                crc.update(last ? 1 : 0);
                updateLong(crc, number);
                if ((int) crc.getValue() != ByteBuffer.wrap(payload, length, 4).getInt()) {
                    throw new ObjectTamperedException(name + ": chunk " + number + " fails its checksum; the object is corrupt");
                }
                return Arrays.copyOf(payload, length);
            }
            try {
                Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
                cipher.init(Cipher.DECRYPT_MODE, dataKey, new GCMParameterSpec(TAG_BITS, nonce(number)));
                cipher.updateAAD(binding);
                cipher.updateAAD(chunkAad(number, last));
                return cipher.doFinal(payload);
            } catch (AEADBadTagException e) {
                throw new ObjectTamperedException(name + ": chunk " + number + " fails authentication; the object was altered or is corrupt");
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES-GCM is unavailable in this JVM", e);
            }
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }

    /** Turns a decompressor's complaint about a damaged stream into a CodecException naming the object. */
    private static final class GuardedInputStream extends FilterInputStream {
        private final FrameInputStream frames;
        private final String name;

        GuardedInputStream(InputStream in, FrameInputStream frames, String name) {
            super(in);
            this.frames = frames;
            this.name = name;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return in.read(b, off, len);
            } catch (CodecException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                if (frames.sourceFailed) {
                    throw e;
                }
                throw new CodecException(name + ": its compressed stream is corrupt (" + e.getMessage() + ")", e);
            }
        }
    }

    /** Hashes what passes and compares at the end of the stream. */
    private static final class VerifyingInputStream extends FilterInputStream {
        private final MessageDigest digest = sha256();
        private final String name;
        private final String expected;
        private boolean checked;

        VerifyingInputStream(InputStream in, String name, String expected) {
            super(in);
            this.name = name;
            this.expected = expected;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                digest.update(b, off, n);
            } else if (n < 0 && !checked) {
                checked = true;
                String actual = HexFormat.of().formatHex(digest.digest());
                if (!actual.equalsIgnoreCase(expected)) {
                    throw new ChecksumMismatchException(name + ": content SHA-256 is " + actual + " but " + expected
                            + " was recorded when it was stored; the object is not the one the catalog knows");
                }
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            byte[] buffer = new byte[(int) Math.min(n, 64 * 1024)];
            int r = read(buffer, 0, buffer.length);
            return Math.max(r, 0);
        }

        @Override
        public boolean markSupported() {
            return false;
        }
    }
}
