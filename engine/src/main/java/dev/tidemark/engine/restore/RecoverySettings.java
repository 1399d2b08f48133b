package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.ConfigFiles;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The settings a restore's recovery runs under: appended to the restored postgresql.auto.conf (port, restore_command,
 * the recovery target, archiving and replication off, the log the engine follows), with recovery.signal; once
 * recovery has ended, the ones that served the recovery only are taken out again.
 */
final class RecoverySettings {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private RecoverySettings() {
    }

    /**
     * What the written settings mean for following the recovery.
     *
     * @param promoteAtTarget recovery pauses at the target and the runner promotes it (fast promotion, no
     *                        end-of-recovery checkpoint)
     * @param logTag          the secret the recovery's log lines start with (RecoveryLog)
     * @param commandLine     the recovery's settings that only a restart could take back once loaded from a file
     *                        ("name=value", for the server's command line); empty when all are in postgresql.auto.conf
     */
    record Written(boolean promoteAtTarget, String logTag, List<String> commandLine, boolean standby) {
    }

    /**
     * The recovery's settings a reload cannot change (postmaster context in PostgreSQL 14-17). Loaded from a file and
     * taken out of it, each is flagged as pending a restart, with an error in the server's log; given on the command line
     * they outrank the files, and only a restart drops them (recovery targets act only in a recovery).
     */
    private static final Pattern RESTART_ONLY = Pattern.compile(
            "(recovery_target\\w*|archive_mode|hot_standby|logging_collector) = .*");

    private static final String COMMAND_LINE_NOTE = "# and on the server's command line";

    /**
     * Whether a restore can hand its recovered server over without a restart: in place and left running, started by
     * pg_ctl as it is normally started (not a Debian cluster, which its service starts), on PostgreSQL 14 or later
     * (where restore_command takes a reload).
     */
    static boolean canReloadAfter(RestoreRunner.Request request, BackupManifest manifest, PgServer.Launch asUsual) {
        return request.inPlace() && request.afterRecovery() == RestoreRunner.AfterRecovery.RUNNING
                && !(asUsual instanceof PgServer.Launch.DebianCluster) && manifest.serverVersionNum() >= 140000;
    }

    /**
     * Appends the recovery's settings to postgresql.auto.conf and writes recovery.signal; with onCommandLine, the settings
     * a reload cannot take back are returned for the server's command line instead. With standby, standby.signal
     * instead: the recovery runs as a standby without a target, asked to promote from its start, so that it ends where
     * the WAL the spool offers ends (WalToReplay.endsAsPromotedStandby), with a standby's promotion (an end-of-recovery
     * record, the checkpoint after it in the background) instead of a checkpoint it waits for.
     */
    static Written write(RestoreRunner.Request request, BackupManifest manifest, Path target, String restoreCommand,
                         Optional<Lsn> stopAt, boolean onCommandLine, boolean standby) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("");
        lines.add("# Written by Tidemark restore " + request.restoreId() + " of backup " + manifest.backupId() + " at " + Instant.now());
        lines.add("port = " + request.port());
        // a quoted value of postgresql.conf takes backslash escapes and doubled quotes
        lines.add("restore_command = '" + restoreCommand.replace("\\", "\\\\").replace("'", "''") + "'");
        // PostgreSQL keeps microseconds and does not parse an ISO instant with nanoseconds
        if (stopAt.isPresent()) {
            // right after the last commit at or before the target time, and nothing of what followed it (WalScan)
            lines.add("# target " + request.targetTime().orElseThrow() + ": the end of the last commit at or before it");
            lines.add("recovery_target_lsn = '" + stopAt.get() + "'");
        } else if (!standby) {
            request.targetTime().ifPresent(t -> lines.add("recovery_target_time = '" + DateTimeFormatter
                    .ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSS").withZone(ZoneOffset.UTC).format(t) + "+00'"));
        }
        // PostgreSQL ends a recovery that promotes by itself at its target with a checkpoint it waits for (every
        // page the replay dirtied written and synced before the first connection); paused at the target and then
        // promoted (pg_ctl promote) it writes an end-of-recovery record instead and checkpoints in the background,
        // as a promoted standby does. A paused recovery takes a promotion from PostgreSQL 13 on; older servers promote themselves.
        boolean promoteAtTarget = !standby && request.targetTime().isPresent() && manifest.serverVersionNum() >= 130000;
        lines.add("recovery_target_action = '" + (promoteAtTarget ? "pause" : "promote") + "'");
        lines.add("recovery_target_timeline = 'latest'");
        // a delayed standby's setting would hold each recent commit back by its delay: a restore replays at once
        lines.add("recovery_min_apply_delay = 0");
        // a time target keeps the commits at the target; an LSN target stops before the record at that position
        lines.add("recovery_target_inclusive = " + (stopAt.isPresent() ? "off" : "on"));
        if (!request.inPlace()) {
            // a copy beside must never archive into its source's archive. In place the server keeps its own archiving:
            // nothing is archived during the recovery (only archive_mode = always archives there, and never what the
            // recovery restored), and at the promotion the new timeline's history and the old timeline's last, partial
            // segment are archived as on any promotion: an archive of the operator's own follows the timeline switch
            lines.add("archive_mode = off");
            lines.add("archive_command = ''");
        }
        lines.add("primary_conninfo = ''");
        lines.add("primary_slot_name = ''");
        lines.add("hot_standby = on");
        // the engine follows the recovery in the server's log (its stop, its pauses, its end): in English, to the file
        // the restore names, with the lines it reads, whatever the source's logging settings
        lines.add("logging_collector = off");
        lines.add("log_destination = 'stderr'");
        lines.add("lc_messages = 'C'");
        lines.add("log_min_messages = warning");
        // lines the restore trusts start with a secret of its own (RecoveryLog): a client cannot forge them
        String logTag = RecoveryLog.newTag();
        lines.add("log_line_prefix = '" + RecoveryLog.prefix(logTag) + "'");
        if (manifest.serverVersionNum() >= 140000) {
            // the restored files are not yet durable: one syncfs of the file system instead of an fsync per file
            lines.add("recovery_init_sync_method = syncfs");
        }
        if (manifest.serverVersionNum() >= 150000 && !PREFETCH_AS_SERVER) {
            // replayed from a base backup, a block's first change carries its full-page image (full_page_writes, on by
            // default and forced on while the backup ran), which replaces the page unread; the prefetcher looks ahead of
            // the replay and asks the kernel for each page a later change in its window touches, before that image is
            // in shared buffers: a read from disk of every changed page the restore wrote past the page cache, the
            // replay's own pace (docs/benchmarks.md, "Delta restore in place", session 33)
            lines.add("recovery_prefetch = off");
        }
        List<String> commandLine = new ArrayList<>();
        if (onCommandLine) {
            // name = 'value' or name = value, as written above; on the command line name=value (no quote inside any)
            lines.stream().filter(l -> RESTART_ONLY.matcher(l).matches())
                    .forEach(l -> commandLine.add(l.replaceFirst(" = ", "=").replace("'", "")));
            lines.removeIf(l -> RESTART_ONLY.matcher(l).matches());
            lines.add(COMMAND_LINE_NOTE + ", so that a reload takes everything here back: "
                    + String.join(", ", commandLine.stream().map(c -> c.substring(0, c.indexOf('='))).toList()));
        }
        Files.write(target.resolve("postgresql.auto.conf"), lines, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        // a standby's recovery does not end by itself where the WAL ends: the promotion ends it there (PostgreSQL removes
        // either file at its promotion)
        Files.deleteIfExists(target.resolve(standby ? "recovery.signal" : "standby.signal"));
        Files.writeString(target.resolve(standby ? "standby.signal" : "recovery.signal"), "");
        return new Written(promoteAtTarget, logTag, List.copyOf(commandLine), standby);
    }

    /**
     * With {@value #PREFETCH_PROPERTY}{@code =server}: the recovery prefetches as the server's own setting says (PostgreSQL's
     * default: where the system can), for a benchmark's side-by-side; without it, prefetching is off for the recovery.
     */
    /** What the recovery sets in postgresql.auto.conf, which the server's own command line would outrank. */
    private static final Pattern RECOVERY_SETS = Pattern.compile("port|restore_command|recovery_\\w+"
            + "|primary_conninfo|primary_slot_name|hot_standby|logging_collector|log_destination|lc_messages"
            + "|log_min_messages|log_line_prefix");

    /**
     * Of the settings a database's server is normally given on its command line (PgServer.commandLineSettings), those the
     * recovery may start it with: not one that would outrank what the recovery sets (its port unless it is the one
     * restored on, its restore_command, its logging, ...). The restart after the recovery gives it all of them again.
     */
    static List<String> ownSettingsForRecovery(List<String> own, int port) {
        return own.stream().filter(s -> {
            String name = s.substring(0, s.indexOf('='));
            return !RECOVERY_SETS.matcher(name).matches() || name.equals("port") && s.equals("port=" + port);
        }).toList();
    }

    static final String PREFETCH_PROPERTY = "tidemark.restore.recovery-prefetch";
    private static final boolean PREFETCH_AS_SERVER = "server".equals(System.getProperty(PREFETCH_PROPERTY));

    /** The settings the restore wrote that serve the recovery only; its port and raised settings stay. */
    private static final Pattern RECOVERY_ONLY = Pattern.compile(
            "\\s*(restore_command|recovery_target\\w*|recovery_min_apply_delay|recovery_init_sync_method|recovery_prefetch|logging_collector|log_destination|lc_messages"
                    + "|log_min_messages|log_line_prefix)\\s*=.*");
    /**
     * What else an in-place restore wrote and takes back: the database is the production one again, with its own
     * replication settings (its archiving it kept throughout; an older restore wrote archiving off, and takes that back too).
     * A copy beside keeps them off: it must never archive into, or follow, the source's archive or primary.
     */
    private static final Pattern IN_PLACE_ONLY = Pattern.compile(
            "\\s*(archive_mode|archive_command|primary_conninfo|primary_slot_name|hot_standby)\\s*=.*");

    /**
     * Once recovery has ended, the recovery settings the restore added to postgresql.auto.conf go: the spool its
     * restore_command names is gone. An in-place restore also takes back archiving and replication off (the production
     * database's own settings apply again at its next start); a copy beside keeps them off.
     * In place, the port goes too where the server's own configuration (configFile and what it includes) gives the same
     * one: a standby cloned from it later does not inherit a port of the restore's. The server keeps running with what
     * it loaded until it is restarted (Handover restarts a database restored in place).
     */
    static void remove(RestoreRunner.Request request, Path target, Path configFile, PgServer.Factory servers) {
        Path auto = target.resolve("postgresql.auto.conf");
        try {
            List<String> lines = Files.readAllLines(auto, StandardCharsets.UTF_8);
            String marker = "# Written by Tidemark restore " + request.restoreId() + " ";
            int from = -1;
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).startsWith(marker)) {
                    from = i;
                }
            }
            if (from < 0) {
                return;
            }
            List<String> kept = new ArrayList<>(lines.subList(0, from));
            kept.add(lines.get(from).replace("# Written by", request.inPlace()
                    ? "# Port (and any setting raised for the WAL) written by"
                    : "# Port, archiving and replication off (a copy must not archive into its source's archive or follow its"
                    + " primary; set them to turn them on), and any setting raised for the WAL, written by")
                    + "; its recovery settings were removed when recovery ended");
            boolean ownPort = request.inPlace() && setsPort(configFile, request.port());
            for (String line : lines.subList(from + 1, lines.size())) {
                if (!RECOVERY_ONLY.matcher(line).matches() && !line.startsWith(COMMAND_LINE_NOTE) && !(request.inPlace() && IN_PLACE_ONLY.matcher(line).matches())
                        && !(ownPort && line.strip().equals("port = " + request.port()))) {
                    kept.add(line);
                }
            }
            Path fresh = auto.resolveSibling("postgresql.auto.conf.tidemark");
            Files.write(fresh, kept, StandardCharsets.UTF_8);
            Files.setPosixFilePermissions(fresh, PosixFilePermissions.fromString("rw-------"));
            servers.at(target).user().ownOne(fresh);
            try (FileChannel ch = FileChannel.open(fresh, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Files.move(fresh, auto, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            log.warn("restore {}: could not remove its recovery settings from {} ({}): remove the lines after \"{}\" that name"
                    + " restore_command and recovery_target_*", request.restoreId(), auto, e.getMessage(), "Tidemark restore");
        }
    }

    /** Whether the configuration file, or a file it includes, sets the port, and every such setting says this one. */
    private static boolean setsPort(Path configFile, int port) {
        try {
            java.util.Set<Path> files = new java.util.LinkedHashSet<>();
            files.add(configFile);
            files.addAll(ConfigFiles.included(configFile));
            List<String> ports = new ArrayList<>();
            for (Path file : files) {
                if (Files.isRegularFile(file)) {
                    ConfigFiles.settings(Files.readAllLines(file, StandardCharsets.UTF_8)).stream()
                            .filter(s -> s.name().equalsIgnoreCase("port")).forEach(s -> ports.add(s.value().strip()));
                }
            }
            return !ports.isEmpty() && ports.stream().allMatch(p -> p.equals(Integer.toString(port)));
        } catch (IOException | RuntimeException e) {
            return false; // unreadable: the port line stays, as before
        }
    }
}
