package dev.tidemark.engine.basebackup;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

/**
 * The page checksum against PostgreSQL's algorithm written out plainly (pg_checksum_page: the stored checksum zeroed,
 * 32 lanes over the page's words, two rounds of zeros, folded, the block number mixed in), and what {@code verify}
 * judges: new pages and pages changed after the backup's start are skipped, a damaged page is reported by its block.
 * That the result is PostgreSQL's on real pages is BaseBackupTest's (only the page it damages is reported).
 */
class PageChecksumTest {
    private static final int PAGE = PageChecksum.PAGE_SIZE;

    @Test
    void equalsThePlainAlgorithmOnRandomPagesAtAnyPlace() {
        Random random = new Random(42);
        byte[] data = new byte[PAGE * 3 + 100];
        for (int round = 0; round < 200; round++) {
            random.nextBytes(data);
            int off = random.nextInt(100);   // a page anywhere in the array, not only at a multiple of 8 KiB
            long block = round < 100 ? round : random.nextLong() & 0xFFFFFFFFL;
            assertThat(PageChecksum.compute(data, off, block)).as("round %d", round).isEqualTo(plain(data, off, block));
        }
    }

    @Test
    void theStoredChecksumDoesNotCountTowardsItself() {
        byte[] page = new byte[PAGE];
        new Random(7).nextBytes(page);
        int before = PageChecksum.compute(page, 0, 5);
        page[8] ^= 0x5A;
        page[9] ^= 0x11;
        assertThat(PageChecksum.compute(page, 0, 5)).isEqualTo(before);
        page[10] ^= 1;   // pd_flags counts
        assertThat(PageChecksum.compute(page, 0, 5)).isNotEqualTo(before);
    }

    @Test
    void verifySkipsNewAndLaterPagesAndReportsADamagedOneByItsBlock() {
        Random random = new Random(3);
        byte[] data = new byte[PAGE * 5];
        random.nextBytes(data);
        long first = 131072;   // the second segment file of a relation
        for (int i = 0; i < 5; i++) {
            header(data, i * PAGE, 0x10, first + i);
        }
        java.util.Arrays.fill(data, 1 * PAGE, 2 * PAGE, (byte) 0);            // page 1: new (all zero)
        data[2 * PAGE + 3] = 0x7F;                                           // page 2: LSN past the start, wrong checksum
        data[3 * PAGE + 4000] ^= 0x01;                                       // page 3: damaged
        List<long[]> bad = new ArrayList<>();
        int judged = PageChecksum.verify(data, data.length, first, 0x01000000L,
                (block, stored, computed) -> bad.add(new long[]{block, stored, computed}));
        assertThat(judged).isEqualTo(3);
        assertThat(bad).hasSize(1);
        assertThat(bad.get(0)[0]).isEqualTo(first + 3);
        assertThat(bad.get(0)[1]).isEqualTo(PageChecksum.stored(data, 3 * PAGE)).isNotEqualTo(bad.get(0)[2]);
    }

    @Test
    void verifyJudgesOnlyWholePagesOfTheLengthRead() {
        byte[] data = new byte[PAGE * 2];
        header(data, 0, 0x20, 0);
        data[PAGE + 14] = 1;   // the second page would be judged (and fail) were it inside the length
        assertThat(PageChecksum.verify(data, PAGE + PAGE / 2, 0, Long.MAX_VALUE, (b, s, c) -> {
            throw new AssertionError("block " + b);
        })).isEqualTo(1);
    }

    @Test
    void theWarmUpRunsThroughThePageChecks() {
        assertThatCode(Warmup::run).doesNotThrowAnyException();
    }

    /** An LSN of 0/0, pd_upper set (not new), and the right checksum for the block. */
    private static void header(byte[] data, int off, int upper, long block) {
        java.util.Arrays.fill(data, off, off + 8, (byte) 0);
        data[off + 14] = (byte) upper;
        data[off + 15] = 0;
        int sum = plain(data, off, block);
        data[off + 8] = (byte) sum;
        data[off + 9] = (byte) (sum >>> 8);
    }

    /** pg_checksum_page as checksum_impl.h writes it. */
    private static int plain(byte[] data, int off, long block) {
        byte[] page = java.util.Arrays.copyOfRange(data, off, off + PAGE);
        page[8] = 0;
        page[9] = 0;
        ByteBuffer words = ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN);
        int[] sums = {
                0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
                0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
                0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
                0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};
        for (int i = 0; i < PAGE / (4 * 32); i++) {
            for (int j = 0; j < 32; j++) {
                sums[j] = comp(sums[j], words.getInt((i * 32 + j) * 4));
            }
        }
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 32; j++) {
                sums[j] = comp(sums[j], 0);
            }
        }
        int checksum = 0;
        for (int s : sums) {
            checksum ^= s;
        }
        checksum ^= (int) block;
        return (int) (Integer.toUnsignedLong(checksum) % 65535) + 1;
    }

    private static int comp(int checksum, int value) {
        int tmp = checksum ^ value;
        return tmp * 16777619 ^ (tmp >>> 17);
    }
}
