package dev.tidemark.engine.postgres;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a running server keeps its files: its data directory, its configuration, authentication and ident files (as
 * the server reports them), the files its configuration includes (read from disk), which of them lie outside the data
 * directory, and whether Debian's postgresql-common manages the cluster (configuration under
 * /etc/postgresql/VERSION/NAME, pg_ctlcluster installed). Needs pg_read_all_settings (or a superuser) on the session.
 */
public record ServerLayout(Path dataDirectory, Path configFile, Path hbaFile, Path identFile, List<Path> includes,
                           Optional<DebianCluster> debian) {

    /** A cluster of Debian's postgresql-common: started and stopped with pg_ctlcluster VERSION NAME. */
    public record DebianCluster(String version, String name) {
        private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]+");

        public DebianCluster {
            if (!NAME.matcher(version).matches() || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("not a Debian cluster version and name: '" + version + "' '" + name + "'");
            }
        }
    }

    /** Where postgresql-common keeps a cluster's configuration, and its control program. */
    public static final Path DEBIAN_CONFIG_ROOT = Path.of("/etc/postgresql");
    public static final Path PG_CTLCLUSTER = Path.of("/usr/bin/pg_ctlcluster");
    private static final Pattern DEBIAN_CONFIG = Pattern.compile("/etc/postgresql/([^/]+)/([^/]+)/postgresql\\.conf");

    public ServerLayout {
        includes = List.copyOf(includes);
    }

    /**
     * Asks the server on session where its files are and reads its configuration files on this host for what they
     * include. Throws SQLException when the role may not read the settings (pg_read_all_settings): asked first, so
     * such a role never puts "must be superuser" into the server's log.
     */
    public static ServerLayout detect(Connection session) throws SQLException, IOException {
        Optional<String> refused = new ServerQueries(session).roleWithoutSettingsAccess();
        if (refused.isPresent()) {
            throw new SQLException("the role " + refused.get() + " may not read where the server's files are (data_directory,"
                    + " config_file): GRANT pg_read_all_settings TO " + refused.get(), "42501");
        }
        Path dataDirectory;
        Path configFile;
        Path hbaFile;
        Path identFile;
        ServerQueries.FileSettings files = new ServerQueries(session).fileSettings();
        dataDirectory = Path.of(files.dataDirectory()).toAbsolutePath().normalize();
        configFile = dataDirectory.resolve(files.configFile()).normalize();
        hbaFile = dataDirectory.resolve(files.hbaFile()).normalize();
        identFile = dataDirectory.resolve(files.identFile()).normalize();
        List<Path> includes = new ArrayList<>(ConfigFiles.included(configFile));
        return new ServerLayout(dataDirectory, configFile, hbaFile, identFile, includes, debianCluster(configFile));
    }

    /** The Debian cluster whose configuration file this is, when pg_ctlcluster is installed here. */
    public static Optional<DebianCluster> debianCluster(Path configFile) {
        Matcher m = DEBIAN_CONFIG.matcher(configFile.toString());
        if (!m.matches() || !Files.isExecutable(PG_CTLCLUSTER)) {
            return Optional.empty();
        }
        return Optional.of(new DebianCluster(m.group(1), m.group(2)));
    }

    /** The configuration, authentication, ident and included files that lie outside the data directory. */
    public List<Path> outsideDataDirectory() {
        Set<Path> all = new LinkedHashSet<>();
        all.add(configFile);
        all.add(hbaFile);
        all.add(identFile);
        all.addAll(includes);
        return all.stream().filter(p -> !p.startsWith(dataDirectory)).toList();
    }

    /** One line for logs and registration: where the configuration is. */
    public String describe() {
        List<Path> outside = outsideDataDirectory();
        String where = outside.isEmpty() ? "configuration inside the data directory"
                : "configuration outside the data directory (" + outside.size() + " file" + (outside.size() == 1 ? "" : "s")
                + ", " + configFile + ")";
        return where + debian.map(d -> ", a Debian cluster (pg_ctlcluster " + d.version() + " " + d.name() + ")").orElse("");
    }
}
