package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.ConfigFiles;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The server's configuration that lived outside its data directory (Debian's /etc/postgresql/VERSION/NAME, or
 * config_file set elsewhere), at a restore. Beside, the copies kept in the backup become the copy's own configuration
 * in its data directory, adjusted so that it starts on its own and never touches the source. In place, the server's
 * own files stay where they are and the server is started with them, as it normally is.
 */
final class ExternalConfig {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);
    /**
     * Settings a copy beside must not keep: they name the source's data directory, its PID file, or (before
     * PostgreSQL 15) its statistics directory, which the copy would write into.
     */
    private static final Set<String> SOURCE_ONLY = Set.of("data_directory", "external_pid_file", "stats_temp_directory");

    private ExternalConfig() {
    }

    /** Refuses, before anything is written, a restore whose server could not be started with the backup's configuration. */
    static void check(RestoreRunner.Request request, BackupManifest manifest) {
        BackupManifest.Configuration config = manifest.configuration();
        if (config == null || !config.hasExternal()) {
            boolean hasConf = manifest.files().stream().anyMatch(e -> e.path().equals("postgresql.conf"));
            if (!hasConf && !request.inPlace()) {
                throw new RestoreRejectedException("backup " + manifest.backupId() + " has no postgresql.conf: the server's"
                        + " configuration lived outside its data directory, and the backup predates Tidemark keeping such files;"
                        + " take a new base backup, or restore in place (nothing was written)");
            }
            return;
        }
        if (request.inPlace()) {
            Path configFile = Path.of(config.configFile());
            if (!Files.isRegularFile(configFile)) {
                throw new RestoreRejectedException("in-place restore: the server's configuration file " + configFile + " (where it was"
                        + " when backup " + manifest.backupId() + " was taken) is missing, so the restored server could not start:"
                        + " put it back (the backup's download has a copy under " + BackupManifest.externalPath(config.configFile())
                        + "), or restore beside (nothing was written)");
            }
            try {
                new PgServer.Launch.ConfigFile(configFile);
            } catch (IllegalArgumentException e) {
                throw new RestoreRejectedException("in-place restore: " + e.getMessage() + " (nothing was written)");
            }
        }
    }

    /** How the recovery starts the server: in place with its own configuration file where that lies outside. */
    static PgServer.Launch forRecovery(RestoreRunner.Request request, BackupManifest manifest) {
        BackupManifest.Configuration config = manifest.configuration();
        if (request.inPlace() && config != null && config.hasExternal()) {
            return new PgServer.Launch.ConfigFile(Path.of(config.configFile()));
        }
        return new PgServer.Launch.InDataDirectory();
    }

    /** The server's main configuration file after the restore: its own outside the data directory, else postgresql.conf. */
    static Path configFile(RestoreRunner.Request request, BackupManifest manifest, Path target) {
        return forRecovery(request, manifest) instanceof PgServer.Launch.ConfigFile c ? c.file() : target.resolve("postgresql.conf");
    }

    /** How the server is normally started: in place, by pg_ctlcluster for a Debian cluster; otherwise as for the recovery. */
    static PgServer.Launch asUsual(RestoreRunner.Request request, BackupManifest manifest) {
        BackupManifest.Configuration config = manifest.configuration();
        if (request.inPlace() && config != null && config.debianVersion() != null && Files.isExecutable(ServerLayout.PG_CTLCLUSTER)) {
            return new PgServer.Launch.DebianCluster(new ServerLayout.DebianCluster(config.debianVersion(), config.debianCluster()));
        }
        return forRecovery(request, manifest);
    }

    /**
     * Beside: the configuration file becomes the copy's postgresql.conf, the authentication and ident files its
     * pg_hba.conf and pg_ident.conf; the files they include stay under tidemark-external-config in the copy, the
     * includes pointing at them. data_directory, external_pid_file and stats_temp_directory are commented out (they
     * named the source's); the port and what the restore sets for recovery come later in postgresql.auto.conf, which
     * PostgreSQL reads last. In place: nothing was written of them (DataDirectoryWriter).
     */
    static void placeBeside(RestoreRunner.Request request, BackupManifest manifest, Path target) throws IOException {
        BackupManifest.Configuration config = manifest.configuration();
        if (request.inPlace() || config == null || !config.hasExternal()) {
            return;
        }
        Path sourceData = Path.of(config.dataDirectory());
        Path configFile = Path.of(config.configFile());
        Path hbaFile = Path.of(config.hbaFile());
        Path identFile = Path.of(config.identFile());
        String why = "Tidemark restore " + request.restoreId() + ": this copy's own, not the source's";
        // a configuration file inside the data directory that includes files from outside is rewritten in place
        List<String> rewritten = config.external().contains(config.configFile()) ? config.external()
                : Stream.concat(Stream.of(config.configFile()), config.external().stream()).toList();
        for (String recorded : rewritten) {
            Path source = Path.of(recorded);
            Path place = copyOf(target, config, source);
            Path kept = config.external().contains(recorded) ? keptCopy(target, source) : place;
            List<String> lines = Files.readAllLines(kept, StandardCharsets.UTF_8);
            if (!source.equals(hbaFile) && !source.equals(identFile)) {
                lines = ConfigFiles.rewrite(lines, why, s -> edit(s, source, place, target, config, sourceData));
            }
            if (!place.equals(kept)) {
                if (Files.exists(place)) {
                    log.info("restore {}: {} in the backup's data directory was not the server's (it read {}): replaced",
                            request.restoreId(), target.relativize(place), source);
                }
                Files.write(place, lines, StandardCharsets.UTF_8);
                Files.setPosixFilePermissions(place, Files.getPosixFilePermissions(kept));
                Files.delete(kept);
            } else {
                Files.write(place, lines, StandardCharsets.UTF_8);
            }
        }
        log.info("restore {}: the server's configuration from outside its data directory ({}) is the copy's own, in {}",
                request.restoreId(), configFile.getParent(), target);
    }

    private static ConfigFiles.Edit edit(ConfigFiles.Setting s, Path source, Path place, Path target,
                                         BackupManifest.Configuration config, Path sourceData) {
        if (SOURCE_ONLY.contains(s.name())) {
            return new ConfigFiles.Edit.CommentOut();
        }
        if (ConfigFiles.isInclude(s.name()) && !s.value().isEmpty()) {
            Path named = source.getParent().resolve(s.value()).normalize();
            Path copy = copyOf(target, config, named);
            return copy.equals(named) ? new ConfigFiles.Edit.Keep()
                    : new ConfigFiles.Edit.SetTo(place.getParent().relativize(copy).toString());
        }
        if ((s.name().equals("hba_file") || s.name().equals("ident_file")) && !s.value().isEmpty()) {
            Path named = sourceData.resolve(s.value()).normalize(); // relative to the data directory, the server's working directory
            Path copy = copyOf(target, config, named);
            Path standard = target.resolve(s.name().equals("hba_file") ? "pg_hba.conf" : "pg_ident.conf");
            return copy.equals(standard) ? new ConfigFiles.Edit.CommentOut()
                    : copy.equals(named) ? new ConfigFiles.Edit.Keep() : new ConfigFiles.Edit.SetTo(copy.toString());
        }
        return new ConfigFiles.Edit.Keep();
    }

    /** Where the restore wrote the backup's copy of a file from outside the data directory. */
    private static Path keptCopy(Path target, Path source) {
        return target.resolve(BackupManifest.externalPath(source.toString()));
    }

    /**
     * Where the copy has what the source had at path: its configuration, authentication and ident files at their
     * standard places in the copy, other kept files (and include directories) under tidemark-external-config, files of
     * the source's data directory at the same place in the copy; anything else (not kept) where it is.
     */
    private static Path copyOf(Path target, BackupManifest.Configuration config, Path path) {
        List<String> external = config.external();
        if (path.toString().equals(config.configFile())) {
            return target.resolve("postgresql.conf");
        }
        if (path.toString().equals(config.hbaFile()) && external.contains(config.hbaFile())) {
            return target.resolve("pg_hba.conf");
        }
        if (path.toString().equals(config.identFile()) && external.contains(config.identFile())) {
            return target.resolve("pg_ident.conf");
        }
        Path sourceData = Path.of(config.dataDirectory());
        if (path.startsWith(sourceData)) {
            return target.resolve(sourceData.relativize(path).toString());
        }
        boolean kept = external.stream().map(Path::of).anyMatch(f -> f.equals(path) || f.startsWith(path));
        return kept ? keptCopy(target, path) : path;
    }
}
