package dev.tidemark.engine.postgres;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The settings a server was started with on its command line, as its postmaster.opts records them. */
class CommandLineSettingsTest {
    @TempDir
    Path dir;

    @Test
    void readsEachFormTheDataDirectoryAndConfigFileLeftToTheLaunch() throws Exception {
        assertThat(PgServer.commandLineSettings(dir)).as("never started: no file").isEmpty();
        write("/usr/lib/postgresql/15/bin/postgres \"-D\" \"/srv/pg data\" \"-p\" \"29868\" \"-k\" \"/tmp\" \"-c\""
                + " \"listen_addresses=127.0.0.1\" \"-cwork_mem=8MB\" \"--max-connections=50\" \"-c\" \"config_file=/etc/pg.conf\"\n");
        assertThat(PgServer.commandLineSettings(dir)).containsExactly("port=29868", "unix_socket_directories=/tmp",
                "listen_addresses=127.0.0.1", "work_mem=8MB", "max_connections=50");
        write("/usr/lib/postgresql/15/bin/postgres \"-D\" \"/srv/data\"\n");
        assertThat(PgServer.commandLineSettings(dir)).as("pg_ctl start without -o").isEmpty();
    }

    @Test
    void whatIsNotUnderstoodIsSaidSoNotGuessed() throws Exception {
        write("/usr/lib/postgresql/15/bin/postgres \"-D\" \"/srv/data\" \"-F\"\n");
        assertThat(PgServer.commandLineSettings(dir)).as("an option that is no setting").isNull();
        write("/usr/lib/postgresql/15/bin/postgres \"-D\" \"/srv/data\" \"-c\" \"search_path='a'\"\n");
        assertThat(PgServer.commandLineSettings(dir)).as("a quote pg_ctl could not be given back").isNull();
        write("/usr/lib/postgresql/15/bin/postgres \"-D\" \"/srv/data\" \"-c\" \"cluster_name=a\"b\"\n");
        assertThat(PgServer.commandLineSettings(dir)).as("a double quote in an argument").isNull();
    }

    private void write(String line) throws Exception {
        Files.writeString(dir.resolve("postmaster.opts"), line);
    }
}
