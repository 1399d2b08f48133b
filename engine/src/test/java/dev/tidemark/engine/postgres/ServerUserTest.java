package dev.tidemark.engine.postgres;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** A restored copy runs as the owner of the database's data directory, not as a fixed user. */
class ServerUserTest {
    @TempDir
    Path tmp;

    @Test
    void aCopyRunsAsTheOwnerOfTheDataDirectory() throws Exception {
        ServerUser fallback = ServerUser.detect();
        assumeTrue("root".equals(System.getProperty("user.name")), "only root switches users");
        Path pgdata = Files.createDirectory(tmp.resolve("pgdata"));
        UserPrincipalLookupService lookup = pgdata.getFileSystem().getUserPrincipalLookupService();
        // "nobody" exists on every Linux; its group differs from its name on Debian (nogroup)
        Files.setOwner(pgdata, lookup.lookupPrincipalByName("nobody"));
        // a group other than root's, and other than a group named like the user
        String group = Files.exists(Path.of("/etc/group")) && Files.readString(Path.of("/etc/group")).contains("\nnogroup:") ? "nogroup" : "nobody";
        Files.getFileAttributeView(pgdata, java.nio.file.attribute.PosixFileAttributeView.class)
                .setGroup(lookup.lookupPrincipalByGroupName(group));
        ServerUser owner = ServerUser.owning(pgdata, fallback);
        assertThat(owner.name()).isEqualTo("nobody");
        assertThat(owner.command(List.of("true"))).containsExactly("runuser", "-u", "nobody", "--", "true");
        Path file = Files.createFile(tmp.resolve("restored-file"));
        owner.ownOne(file);
        PosixFileAttributes attributes = Files.readAttributes(file, PosixFileAttributes.class);
        assertThat(attributes.owner().getName()).isEqualTo("nobody");
        assertThat(attributes.group().getName()).isEqualTo(group);

        // a directory root owns, or none at all: the engine's own server user
        assertThat(ServerUser.owning(tmp, fallback).name()).isEqualTo(fallback.name());
        assertThat(ServerUser.owning(tmp.resolve("missing"), fallback).name()).isEqualTo(fallback.name());
    }
}
