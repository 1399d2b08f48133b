package dev.tidemark.engine.restore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a delta restore finds in the data directory that the backup lacks is moved out beside it (a rename each), to be
 * deleted while the server recovers; what lies elsewhere, and everything once a move fails (a data directory that is a
 * mount point, whose sibling is another file system), stays to be deleted where it is.
 */
class DeltaStraysTest {
    @TempDir
    Path tmp;

    @Test
    void straysAreMovedOutBesideTheDataDirectoryOrLeftWhereTheyAreWhenTheyCannotBe() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data"));
        Path segment = Files.writeString(data.resolve("000000010000000000000003"), "old wal");
        Path dropped = Files.createDirectories(data.resolve("base").resolve("16999"));
        Files.writeString(dropped.resolve("1259"), "a dropped database's file");
        Path inTablespace = Files.writeString(Files.createDirectories(tmp.resolve("space")).resolve("16400"), "elsewhere");
        Path trash = data.resolveSibling("data.tidemark-removed-r1");

        List<Path> left = Strays.moveOut(List.of(segment, dropped, inTablespace), data, trash, "r1");
        assertThat(left).containsExactly(inTablespace);
        assertThat(segment).doesNotExist();
        assertThat(dropped).doesNotExist();
        assertThat(Files.readString(trash.resolve("1"))).isEqualTo("old wal");
        assertThat(Files.readString(trash.resolve("2").resolve("1259"))).isEqualTo("a dropped database's file");

        // the trash cannot be made (here: no parent): every stray stays, to be deleted where it is; nothing moved
        Path other = Files.writeString(data.resolve("postmaster.opts"), "opts");
        Path unreachable = tmp.resolve("no-such-parent").resolve("data.tidemark-removed-r2");
        assertThat(Strays.moveOut(List.of(other, inTablespace), data, unreachable, "r2")).containsExactly(other, inTablespace);
        assertThat(other).exists();
        assertThat(unreachable).doesNotExist();
        assertThat(DeltaInPlace.removeAll(List.of(other, trash))).as("paths deleted: the file, the trash and what it held").isEqualTo(5);
    }
}
