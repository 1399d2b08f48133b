package dev.tidemark.engine.postgres;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** PostgreSQL's configuration syntax as the engine reads and rewrites it, without a server. */
class ConfigFilesTest {

    @Test
    void readsQuotedValuesCommentsAndOptionalEquals() {
        List<ConfigFiles.Setting> settings = ConfigFiles.settings(List.of(
                "# a comment",
                "port = 5433  # trailing",
                "data_directory='/var/lib/postgresql/16/main'",
                "include_dir 'conf.d'",
                "log_line_prefix = '%m it''s \\'quoted\\' '",
                "   ",
                "host all all 127.0.0.1/32 trust"));
        assertThat(settings).extracting(ConfigFiles.Setting::name).containsExactly("port", "data_directory", "include_dir",
                "log_line_prefix");
        assertThat(settings).extracting(ConfigFiles.Setting::value).containsExactly("5433", "/var/lib/postgresql/16/main", "conf.d",
                "%m it's 'quoted' ");
    }

    @Test
    void followsIncludesAsTheServerDoes(@TempDir Path dir) throws Exception {
        Path confd = Files.createDirectories(dir.resolve("conf.d"));
        Files.write(dir.resolve("postgresql.conf"), List.of("include_dir = 'conf.d'", "include_if_exists 'missing.conf'",
                "include '" + dir.resolve("abs.conf") + "'"));
        Files.write(confd.resolve("20-b.conf"), List.of("include '../nested.conf'"));
        Files.write(confd.resolve("10-a.conf"), List.of("work_mem = '7MB'"));
        Files.write(confd.resolve(".hidden.conf"), List.of("x = 1"));
        Files.write(confd.resolve("notes.txt"), List.of("x = 1"));
        Files.write(dir.resolve("nested.conf"), List.of("shared_buffers = 1GB"));
        Files.write(dir.resolve("abs.conf"), List.of());
        assertThat(ConfigFiles.included(dir.resolve("postgresql.conf"))).containsExactly(confd.resolve("10-a.conf"),
                confd.resolve("20-b.conf"), dir.resolve("nested.conf"), dir.resolve("abs.conf"));
    }

    @Test
    void rewritesCommentsOutAndKeepsTheRest() {
        List<String> out = ConfigFiles.rewrite(List.of("data_directory = '/src'", "include_dir 'conf.d'", "port = 5432"), "why",
                s -> switch (s.name()) {
                    case "data_directory" -> new ConfigFiles.Edit.CommentOut();
                    case "include_dir" -> new ConfigFiles.Edit.SetTo("copy/it's");
                    default -> new ConfigFiles.Edit.Keep();
                });
        assertThat(out.get(0)).startsWith("#data_directory = '/src'").endsWith("# why");
        assertThat(out.get(1)).startsWith("include_dir = 'copy/it''s'");
        assertThat(out.get(2)).isEqualTo("port = 5432");
        assertThat(ConfigFiles.settings(out)).extracting(ConfigFiles.Setting::value).containsExactly("copy/it's", "5432");
    }
}
