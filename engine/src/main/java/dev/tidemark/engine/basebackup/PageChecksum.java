package dev.tidemark.engine.basebackup;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * PostgreSQL's data page checksum (32 parallel FNV-1a-style lanes over the 8 KiB page, folded to 16 bits and
 * mixed with the block number), used to verify pages while a base backup reads them.
 */
public final class PageChecksum {
    public static final int PAGE_SIZE = 8192;
    /** Blocks per 1 GiB relation segment file. */
    private static final long BLOCKS_PER_SEGMENT = 131072;
    private static final int LANES = 32;
    private static final int PRIME = 16777619;
    private static final int[] BASE = {
            0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
            0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
            0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
            0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};
    /** Relation files: base/DB/REL, global/REL, pg_tblspc/OID/PG_x/DB/REL, with fork suffix and segment number. */
    private static final Pattern RELATION = Pattern.compile(
            "(?:base/\\d+|global|pg_tblspc/\\d+/PG_[^/]+/\\d+)/\\d+(?:_fsm|_vm|_init)?(?:\\.(\\d+))?");

    private PageChecksum() {
    }

    /** The first block number of a relation file, or -1 when the path is not a relation file with checksummed pages. */
    public static long firstBlock(String relativePath) {
        Matcher m = RELATION.matcher(relativePath);
        if (!m.matches()) {
            return -1;
        }
        return m.group(1) == null ? 0 : Long.parseLong(m.group(1)) * BLOCKS_PER_SEGMENT;
    }

    /** The checksum PostgreSQL would store for this page at this block number. */
    public static int compute(ByteBuffer page, long block) {
        ByteBuffer p = page.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int base = p.position();
        int[] sums = BASE.clone();
        int rows = PAGE_SIZE / (4 * LANES);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < LANES; j++) {
                int offset = base + (i * LANES + j) * 4;
                int value = p.getInt(offset);
                if (offset - base == 8) {
                    value &= 0xFFFF0000; // pd_checksum (bytes 8-9) counts as zero; pd_flags keeps its bits
                }
                sums[j] = comp(sums[j], value);
            }
        }
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < LANES; j++) {
                sums[j] = comp(sums[j], 0);
            }
        }
        int result = 0;
        for (int s : sums) {
            result ^= s;
        }
        result ^= (int) block;
        return (int) (Integer.toUnsignedLong(result) % 65535) + 1;
    }

    /** The checksum stored in the page header. */
    public static int stored(ByteBuffer page) {
        return page.duplicate().order(ByteOrder.LITTLE_ENDIAN).getShort(page.position() + 8) & 0xFFFF;
    }

    /** A new (all-zero) page carries no checksum. */
    public static boolean isNew(ByteBuffer page) {
        return (page.duplicate().order(ByteOrder.LITTLE_ENDIAN).getShort(page.position() + 14) & 0xFFFF) == 0;
    }

    /** The page's LSN: pages changed after the backup started are rewritten by WAL replay, so they are not judged. */
    public static long pageLsn(ByteBuffer page) {
        ByteBuffer p = page.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long high = Integer.toUnsignedLong(p.getInt(p.position()));
        long low = Integer.toUnsignedLong(p.getInt(p.position() + 4));
        return (high << 32) | low;
    }

    private static int comp(int checksum, int value) {
        int tmp = checksum ^ value;
        return tmp * PRIME ^ (tmp >>> 17);
    }
}
