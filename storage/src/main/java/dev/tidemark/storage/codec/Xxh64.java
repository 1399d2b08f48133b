package dev.tidemark.storage.codec;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;

/**
 * XXH64 (seed 0) as a MessageDigest: a fast 64-bit non-cryptographic checksum, about eight times faster than SHA-256
 * on one core. The digest is the 64-bit value big-endian, so its hex is what {@code xxhsum -H1} prints. Not for
 * content an attacker may choose: it is used where every stored byte is already authenticated (AES-GCM), see
 * docs/storage.md.
 */
public final class Xxh64 extends MessageDigest {
    /** The name a manifest gives this checksum. */
    public static final String NAME = "XXH64";
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long P1 = 0x9E3779B185EBCA87L;
    private static final long P2 = 0xC2B2AE3D27D4EB4FL;
    private static final long P3 = 0x165667B19E3779F9L;
    private static final long P4 = 0x85EBCA77C2B2AE63L;
    private static final long P5 = 0x27D4EB2F165667C5L;
    private static final int STRIPE = 32;

    private final byte[] pending = new byte[STRIPE];
    private int buffered;
    private long total;
    private long v1;
    private long v2;
    private long v3;
    private long v4;

    public Xxh64() {
        super(NAME);
        engineReset();
    }

    @Override
    protected int engineGetDigestLength() {
        return 8;
    }

    @Override
    protected void engineReset() {
        v1 = P1 + P2;
        v2 = P2;
        v3 = 0;
        v4 = -P1;
        total = 0;
        buffered = 0;
    }

    @Override
    protected void engineUpdate(byte input) {
        engineUpdate(new byte[]{input}, 0, 1);
    }

    @Override
    protected void engineUpdate(byte[] input, int offset, int length) {
        total += length;
        if (buffered + length < STRIPE) {
            System.arraycopy(input, offset, pending, buffered, length);
            buffered += length;
            return;
        }
        if (buffered > 0) {
            int fill = STRIPE - buffered;
            System.arraycopy(input, offset, pending, buffered, fill);
            stripes(pending, 0, STRIPE);
            offset += fill;
            length -= fill;
            buffered = 0;
        }
        int whole = length & ~(STRIPE - 1);
        stripes(input, offset, whole);
        buffered = length - whole;
        System.arraycopy(input, offset + whole, pending, 0, buffered);
    }

    private void stripes(byte[] in, int offset, int length) {
        long a = v1;
        long b = v2;
        long c = v3;
        long d = v4;
        for (int end = offset + length; offset < end; offset += STRIPE) {
            a = round(a, (long) LONG.get(in, offset));
            b = round(b, (long) LONG.get(in, offset + 8));
            c = round(c, (long) LONG.get(in, offset + 16));
            d = round(d, (long) LONG.get(in, offset + 24));
        }
        v1 = a;
        v2 = b;
        v3 = c;
        v4 = d;
    }

    @Override
    protected byte[] engineDigest() {
        long h;
        if (total >= STRIPE) {
            h = Long.rotateLeft(v1, 1) + Long.rotateLeft(v2, 7) + Long.rotateLeft(v3, 12) + Long.rotateLeft(v4, 18);
            h = merge(h, v1);
            h = merge(h, v2);
            h = merge(h, v3);
            h = merge(h, v4);
        } else {
            h = P5;
        }
        h += total;
        int i = 0;
        for (; i + 8 <= buffered; i += 8) {
            h ^= round(0, (long) LONG.get(pending, i));
            h = Long.rotateLeft(h, 27) * P1 + P4;
        }
        if (i + 4 <= buffered) {
            h ^= (((int) INT.get(pending, i)) & 0xFFFFFFFFL) * P1;
            h = Long.rotateLeft(h, 23) * P2 + P3;
            i += 4;
        }
        for (; i < buffered; i++) {
            h ^= (pending[i] & 0xFFL) * P5;
            h = Long.rotateLeft(h, 11) * P1;
        }
        h ^= h >>> 33;
        h *= P2;
        h ^= h >>> 29;
        h *= P3;
        h ^= h >>> 32;
        engineReset();
        return ByteBuffer.allocate(8).putLong(h).array();
    }

    private static long round(long acc, long input) {
        return Long.rotateLeft(acc + input * P2, 31) * P1;
    }

    private static long merge(long acc, long value) {
        return (acc ^ round(0, value)) * P1 + P4;
    }
}
