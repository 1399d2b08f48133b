package dev.tidemark.engine.verify;

import dev.tidemark.engine.catalog.DatabaseHistory;
import dev.tidemark.engine.catalog.DatabaseHistory.BaseBackup;
import dev.tidemark.engine.catalog.DatabaseHistory.WalRange;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.WalSegment;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The WAL segments a database's kept base backups need, per chain: every segment from the oldest one's start segment to the
 * end of the recorded WAL, on the timeline recovery follows there (a newer timeline from the segment where it began). A
 * number no recorded range covers is needed too, on the timeline before it: the window cannot cross it. Beyond the
 * recorded WAL, the live stream's segments up to the one it writes (kept as a partial segment).
 */
record NeededWal(String chain, WalSegment segment, boolean mayBePartial) {

    static List<NeededWal> of(DatabaseHistory history, List<BaseBackup> kept, Commands.LiveWal live) {
        Map<String, Long> firstPerChain = kept.stream().filter(b -> b.startSegment() != null)
                .collect(Collectors.toMap(BaseBackup::chain, BaseBackup::startSegmentNumber, Math::min, TreeMap::new));
        List<NeededWal> needed = new ArrayList<>();
        for (Map.Entry<String, Long> c : firstPerChain.entrySet()) {
            String chain = c.getKey();
            List<WalRange> ranges = history.wal().stream().filter(r -> r.chain().equals(chain)).toList();
            long recorded = ranges.stream().mapToLong(WalRange::last).max().orElse(c.getValue() - 1);
            long last = live == null || !live.chain().equals(chain) ? recorded
                    : Math.max(recorded, (Lsn.parse(live.lsn()).value() - 1) / DatabaseHistory.SEGMENT_SIZE); // its last durable byte's
            int timeline = kept.stream().filter(b -> b.chain().equals(chain) && b.startSegmentNumber() == c.getValue())
                    .mapToInt(BaseBackup::timeline).min().orElse(1);
            for (long n = c.getValue(); n <= last; n++) {
                WalRange followed = null;
                for (WalRange r : ranges) {
                    if (r.first() <= n && n <= r.last() && r.timeline() >= timeline && begin(history, r) <= n
                            && (followed == null || r.timeline() > followed.timeline())) {
                        followed = r;
                    }
                }
                if (followed != null) {
                    timeline = followed.timeline();
                } else if (n > recorded) {
                    timeline = live.timeline(); // durable beyond the recorded WAL: the live stream's segments
                }
                boolean partial = n > recorded || followed != null && n == followed.last() && followed.endLsn() != null
                        && Lsn.parse(followed.endLsn()).value() % DatabaseHistory.SEGMENT_SIZE != 0;
                needed.add(new NeededWal(chain, new WalSegment(timeline, n, DatabaseHistory.SEGMENT_SIZE), partial));
            }
        }
        return needed;
    }

    /** The first segment of a range recovery follows: a newer timeline from where it left its parent, when recorded. */
    private static long begin(DatabaseHistory history, WalRange r) {
        return history.timelineBeginSegment(r.chain(), r.timeline()).orElse(r.first());
    }
}
