package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.basebackup.BackupProgress;
import dev.tidemark.engine.operations.Progress;
import dev.tidemark.engine.postgres.LoopbackListener;
import dev.tidemark.engine.postgres.Lsn;
import dev.tidemark.engine.postgres.PgServer;
import dev.tidemark.engine.postgres.ServerQueries;
import dev.tidemark.engine.restore.RestoreRunner.Request;
import dev.tidemark.engine.restore.RestoreRunner.Result;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoField;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.MatchResult;
import java.util.regex.Pattern;

/**
 * The recovery of a restored data directory: PostgreSQL started on it, followed over a session (or, when the copy
 * does not let the engine in, through its log with RecoveryLog) until it has left recovery, promoted when it pauses
 * at the target, and what it reached reported. The SQL it sends to the restored server is here.
 */
final class Recovery {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private final Request request;
    private final PgServer server;
    private final Path target;
    private final Path logFile;
    private final Cancellation cancellation;
    private final AtomicReference<BackupProgress> progress;
    /** Recovery pauses at the target and the runner promotes it (fast promotion, no end-of-recovery checkpoint). */
    private final boolean promoteAtTarget;
    /** Recovery runs as a standby, asked to promote from its start: it ends where the WAL the spool offers ends. */
    private final boolean standby;
    private final int serverVersionNum;
    /** The secret the recovery's log lines start with (RecoveryLog). */
    private final String logTag;
    private final long walStart;
    /** Where the replay ends (the stop point once known, or the end of the archive), for the WAL from the backup's start to it. */
    private final java.util.function.Supplier<Lsn> replayEnd;
    private final PhaseTimes phases;
    /** Run once, when the restored server first lets the engine in (it is consistent: its start-up's sync is behind it). */
    private final Runnable whenConsistent;
    /**
     * A time target read beside the replay (WalToReplay, gated): whether the read found a commit after the target (asked
     * once the recovery has ended, when the read has); without one the state at the target is the end of the archive.
     */
    private java.util.function.BooleanSupplier commitAfterTarget = () -> true;
    /** The recovery's settings on the server's command line (RecoverySettings.Written); a resume without the target drops its own. */
    private final List<String> commandLine;

    /** replayEnd: where the replay ends, for its progress (WalSpool.replayEnd). */
    Recovery(Request request, BackupManifest manifest, PgServer server, Path target, Path logFile, RecoverySettings.Written settings,
             java.util.function.Supplier<Lsn> replayEnd, Cancellation cancellation, AtomicReference<BackupProgress> progress, PhaseTimes phases,
             Runnable whenConsistent) {
        this.whenConsistent = whenConsistent;
        this.request = request;
        this.server = server;
        this.target = target;
        this.logFile = logFile;
        this.cancellation = cancellation;
        this.progress = progress;
        this.promoteAtTarget = settings.promoteAtTarget();
        this.standby = settings.standby();
        this.serverVersionNum = manifest.serverVersionNum();
        this.logTag = settings.logTag();
        this.commandLine = new ArrayList<>(settings.commandLine());
        this.walStart = Lsn.parse(manifest.startLsn()).value();
        this.replayEnd = replayEnd;
        this.phases = phases;
    }

    /** A time target read beside the replay: where it ended is the read's to say (see the field). */
    Recovery endedByTheRead(java.util.function.BooleanSupplier commitAfterTarget) {
        this.commitAfterTarget = commitAfterTarget;
        return this;
    }

    /** A time target whose recovery ends where the spool's WAL ends, cut at the stop the read found (WalSpool.endAt). */
    private boolean endsAtTheRead() {
        return standby && request.targetTime().isPresent();
    }

    /**
     * Starts PostgreSQL on the restored directory and waits until recovery has ended. PostgreSQL stops at a target time
     * only when it meets a commit after it; when the archived WAL covers the target but has no commit after it (a quiet
     * moment near the end of the window), the state at the target is the end of the archive: recovery is resumed without
     * the target and says so. When the WAL was written under a higher setting than the backup's configuration carries
     * (max_connections raised on the source after the backup, for one), PostgreSQL refuses to go on; the restored
     * configuration takes the source's value and recovery resumes.
     */
    Result recover(Path movedAside, WalSpool wal) throws IOException, InterruptedException {
        boolean targetIsEnd = false;
        for (int attempt = 1; ; attempt++) {
            try {
                return recoverOnce(movedAside, targetIsEnd);
            } catch (IOException e) {
                Map<String, String> raise = settingsBelowSource();
                List<String> lines = new ArrayList<>();
                if (!raise.isEmpty() && attempt <= 4) {
                    log.info("restore {}: the WAL was written with {} higher than the backup's configuration has; raising {} and "
                            + "resuming recovery", request.restoreId(), raise, raise.size() == 1 ? "it" : "them");
                    raise.forEach((name, value) -> lines.add(name + " = " + value));
                } else if (!targetIsEnd && request.targetTime().isPresent()
                        && logMentions("recovery ended before configured recovery target was reached")) {
                    WalToReplay.requireNoHole(wal, request);
                    log.info("restore {}: no commit after {} in the archived WAL: the state at the target is the end of the archive; "
                            + "resuming recovery to it", request.restoreId(), request.targetTime().get());
                    lines.add("recovery_target_time = ''");
                    lines.add("recovery_target_lsn = ''");
                    commandLine.removeIf(c -> c.startsWith("recovery_target_time=") || c.startsWith("recovery_target_lsn="));
                    targetIsEnd = true;
                } else {
                    throw e;
                }
                server.stopImmediately();
                Files.move(logFile, logFile.resolveSibling(logFile.getFileName() + "." + attempt), StandardCopyOption.REPLACE_EXISTING);
                Files.write(target.resolve("postgresql.auto.conf"), lines, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
            }
        }
    }

    /** PostgreSQL's own words, in 12-17, for a setting lower than the one the WAL was written under. */
    private static final Pattern SETTING_BELOW_SOURCE = Pattern.compile(
            "(\\w+) = (\\d+) is a lower setting than on the (?:primary|master) server(?:, where its value was| \\(its value was) (\\d+)");

    private Map<String, String> settingsBelowSource() {
        Map<String, String> raise = new TreeMap<>();
        for (MatchResult m : RecoveryLog.read(logFile, logTag).all(SETTING_BELOW_SOURCE)) {
            raise.put(m.group(1), m.group(3));
        }
        return raise;
    }

    /** Whether a message of the recovering server itself starts with text (never what a client put in the log). */
    private boolean logMentions(String text) {
        return RecoveryLog.read(logFile, logTag).has(text);
    }

    private Result recoverOnce(Path movedAside, boolean targetIsEnd) throws IOException, InterruptedException {
        Files.deleteIfExists(logFile);
        // the server's log can quote row values: for the server's user alone (pg_ctl would make it readable by all)
        Files.createFile(logFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        server.user().ownOne(logFile);
        try {
            server.start(logFile, request.startTimeout(), commandLine);
        } catch (IOException e) {
            throw new IOException("PostgreSQL could not start on the restored directory: " + failureFromLog(logFile)
                    + " (server log: " + logFile + ")", e);
        }
        // pg_ctl -w returns once the server accepts connections: in recovery, once the replay made the copy consistent
        phases.lap("PostgreSQL start-up until consistent");
        long deadline = System.nanoTime() + request.startTimeout().toNanos();
        Properties props = connectionProperties(true);
        refused = null;
        String url = url();
        Connection c = null; // one session polls (a new one every 50 ms would fork a backend each time)
        // the promotion is asked for now, while the replay runs: paused at the target, the startup process looks for it
        // before it first sleeps, so it promotes the moment it stops (without it, a one-second check or a wake that can
        // lose a race with the pause). Outside a pause a recovery that is not a standby's never looks for it.
        // As a standby it looks for it whenever it runs out of WAL, which is where the spool's WAL ends (the script waits for
        // a segment still to come: the replay never runs out before), and promotes there
        boolean promoteSignalled = !targetIsEnd && (promoteAtTarget || standby) && signalPromotionEarly();
        boolean promoteSent = false; // the pause at the target was seen and dealt with
        long pausedSince = 0;
        boolean connectedOnce = false;
        try {
            while (true) {
                cancellation.check();
                if (!server.isRunning()) {
                    throw new IOException("recovery failed: " + failureFromLog(logFile) + " (server log: " + logFile + ")");
                }
                if (standby && !promoteSignalled) {
                    promoteSignalled = signalPromotionEarly(); // a standby that was not asked would wait at the end for ever
                }
                if (refused != null) {
                    RecoveryLog serverLog = RecoveryLog.read(logFile, logTag);
                    Optional<Result> ended = endedInLog(serverLog, movedAside, targetIsEnd);
                    if (ended.isPresent()) {
                        return ended.get();
                    }
                    if (!promoteSent && pausedAtTargetInLog(serverLog, targetIsEnd)) {
                        phases.lap("replay to the target");
                        log.info("restore {}: target reached, promoting", request.restoreId());
                        if (!promoteSignalled) {
                            server.promote();
                        }
                        promoteSent = true;
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IOException("recovery did not finish within " + request.startTimeout().toSeconds() + " s (server log: "
                                + logFile + ")");
                    }
                    Thread.sleep(100);
                    continue;
                }
                try {
                    if (c == null || c.isClosed()) {
                        c = DriverManager.getConnection(url, props);
                        if (!connectedOnce) {
                            connectedOnce = true;
                            keepWalForStream(c);
                            whenConsistent.run();
                        }
                    }
                    ServerQueries.RecoveryState state = new ServerQueries(c).recoveryState(serverVersionNum);
                    if (state.paused() && !promoteSent) {
                        // paused: at the target when the server said it stopped there; any other pause (a setting
                        // lower than on the source server, for one) is not a state to hand over
                        if (!promoteAtTarget || targetIsEnd || !logMentions("recovery stopping ")) {
                            throw new IOException("recovery paused before reaching the target: " + failureFromLog(logFile)
                                    + " (server log: " + logFile + ")");
                        }
                        if (!promoteSignalled) {
                            phases.lap("replay to the target");
                            log.info("restore {}: target reached, promoting", request.restoreId());
                            server.promote(); // pg_ctl promote: a signal, no SQL privilege needed
                            promoteSent = true;
                            wakeForPromotion(c);
                        } else if (pausedSince == 0) {
                            pausedSince = System.nanoTime(); // promoting by itself in a moment: seen between the two
                        } else if (System.nanoTime() - pausedSince > 40_000_000L) {
                            // still paused a poll later: it paused before the signal reached it (a target reached right at
                            // the start), and looks again only a second later: woken, it finds the promotion
                            log.debug("restore {}: paused at the target before the promotion's signal came; waking it", request.restoreId());
                            promoteSent = true;
                            wakeForPromotion(c);
                        }
                    }
                    if (promoteSent) {
                        long walTotal = walTotal();
                        progress.set(new BackupProgress("recovering", walTotal, walTotal, 0, 0, 0)); // replay is over
                    } else if (state.inRecovery() && state.replayLsn() != null && walTotal() > 0) {
                        progress.set(replayProgress(Lsn.parse(state.replayLsn()), state.lastReplayed()));
                    }
                    if (!state.inRecovery()) {
                        phases.lap(promoteSent ? "promotion" : standby ? "replay and promotion"
                                : promoteSignalled ? "replay to the target and promotion" : "replay and end of recovery");
                        Instant reached = state.lastReplayed();
                        String lsn = state.replayLsn();
                        boolean stopped = targetIsEnd || endsAtTheRead() || logMentions("recovery stopping ");
                        int timeline = timelineOf(c);
                        List<String> prepared = preparedTransactions(c);
                        String summary = summary(request, target, reached, "no transaction replayed after the backup",
                                targetIsEnd || endsAtTheRead() && !commitAfterTarget.getAsBoolean(), stopped, timeline)
                                + (prepared.isEmpty() ? "" : "; " + prepared.size() + " prepared transaction(s) came with it, as"
                                + " they were at the target (" + String.join(", ", prepared.subList(0, Math.min(10, prepared.size())))
                                + (prepared.size() > 10 ? ", ..." : "") + "): end each with COMMIT PREPARED or"
                                + " ROLLBACK PREPARED on the copy");
                        return new Result(target, request.port(), reached, lsn, timeline, stopped, movedAside, summary);
                    }
                } catch (SQLException e) {
                    // not accepting connections yet, or in a restart: connect again and keep polling until the deadline
                    closeQuietly(c);
                    c = null;
                    String state = e.getSQLState() == null ? "" : e.getSQLState();
                    if (state.startsWith("28") || state.equals("08004")) {
                        // the source's pg_hba.conf and roles came with the copy: a password the engine lacks, or no
                        // entry for it from 127.0.0.1. That is the copy's business, not a failure of the restore
                        refused = e.getMessage();
                        log.info("restore {}: the restored server does not let the engine in as {} ({}); following its recovery"
                                + " through its log", request.restoreId(), request.superuser(), refused);
                        continue;
                    }
                    if (!settingsBelowSource().isEmpty()) {
                        // paused before it was consistent (so not accepting connections): the caller raises the setting
                        throw new IOException("recovery paused: " + failureFromLog(logFile));
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException("recovery did not finish within " + request.startTimeout().toSeconds() + " s (server log: "
                            + logFile + ")");
                }
                Thread.sleep(50);
            }
        } finally {
            closeQuietly(c);
        }
    }

    private String url() {
        return "jdbc:postgresql://127.0.0.1:" + request.port() + "/postgres";
    }

    /**
     * A session on the recovered server as the engine's role (its password where Recovery sends it): in that database,
     * or in postgres. Empty when the copy does not let the engine in (its recovery was followed through its log).
     */
    Optional<Connection> connect(Optional<String> database) throws SQLException {
        if (refused != null) {
            return Optional.empty();
        }
        Properties props = connectionProperties(false);
        if (database.isEmpty()) {
            return Optional.of(DriverManager.getConnection(url(), props));
        }
        props.setProperty("PGDBNAME", database.get()); // any name, unquoted in no URL
        return Optional.of(DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + request.port() + "/", props));
    }

    /** Why the restored server does not let the engine in, when it does not: its recovery is then followed in its log. */
    private String refused;

    /** The engine's role, and its password where the server this restore started is the one listening on the port. */
    private Properties connectionProperties(boolean warn) {
        Properties props = new Properties();
        props.setProperty("user", request.superuser());
        if (request.password() != null && server.postmasterPid().filter(pid -> LoopbackListener.heldBy(pid, request.port())).isPresent()) {
            // the restored copy has the source's roles and pg_hba.conf: the role's password as it was at the target. Only
            // when the postmaster this restore started (its PID from the copy's postmaster.pid, in a directory only the
            // server's user writes) itself holds the listener of 127.0.0.1:port: then 127.0.0.1:port reaches it and no
            // other process (LoopbackListener). Otherwise no password is sent, and the recovery is followed in its log
            props.setProperty("password", request.password());
        } else if (request.password() != null && warn) {
            log.warn("restore {}: the server it started does not itself listen on 127.0.0.1:{} (its listen_addresses leave it out,"
                    + " or another process holds it): the password is not sent there", request.restoreId(), request.port());
        }
        return props;
    }

    /**
     * Once recovery has ended and the recovery's settings are out of postgresql.auto.conf (RecoverySettings.remove): the
     * server reloads its configuration, which leaves it as a restart would, where nothing it loaded needs a restart to
     * change. Returns empty when that is so (the reload has taken effect); otherwise why not, and the caller restarts it:
     * a setting pending a restart, or one of the recovery's command-line settings (the logging collector, hot standby)
     * other than what the server's own files give. Recovery targets given there stay loaded and act in no
     * later recovery: a recovery reads them from its own start.
     */
    Optional<String> reloadInsteadOfRestart() {
        if (refused != null) {
            return Optional.of("the engine cannot connect to confirm a reload (" + refused + ")");
        }
        try (Connection c = DriverManager.getConnection(url(), connectionProperties(false))) {
            ServerQueries queries = new ServerQueries(c);
            if (!queries.reloadConfiguration(java.time.Duration.ofSeconds(10))) {
                return Optional.of("the reload was not seen within 10 s");
            }
            Optional<String> pending = queries.pendingRestart();
            if (pending.isPresent()) {
                return Optional.of("settings that take a restart: " + pending.get());
            }
            List<String> differ = new ArrayList<>();
            for (String setting : commandLine) {
                String name = setting.substring(0, setting.indexOf('='));
                if (!name.startsWith("recovery_target") && !queries.runsAsFilesSay(name)) {
                    differ.add(name);
                }
            }
            return differ.isEmpty() ? Optional.empty()
                    : Optional.of("the server's own configuration sets " + String.join(", ", differ) + " otherwise than the recovery ran with");
        } catch (SQLException e) {
            return Optional.of("the reload could not be confirmed (" + e.getMessage() + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("interrupted");
        }
    }

    /**
     * Signals the promotion while the recovery still replays (pg_ctl promote, no wait). PostgreSQL's startup process
     * acts on it only where it pauses (at the target, recovery_target_action = pause) or, as a standby (standby.signal),
     * where it runs out of WAL; a pause for any other reason (a setting below the source's)
     * refuses it with a warning and stays paused. Returns whether it was sent; when pg_ctl fails (the server already
     * ended), the pause at the target, if it comes, is promoted as before.
     */
    private boolean signalPromotionEarly() {
        try {
            server.promote();
            return true;
        } catch (IOException e) {
            log.debug("restore {}: the promotion was not signalled ahead ({}): it is asked for at the target", request.restoreId(),
                    e.getMessage());
            return false;
        }
    }

    /**
     * Paused at the target, the startup process looks for the promotion once a second: woken now (ServerQueries
     * .wakePausedRecovery), it finds it at once. A resume alone would not do: it ends the pause before the promotion is
     * looked for, and recovery then ends with a checkpoint it waits for (measured: 1.7 s instead of 1.05 s). When the
     * wake fails (no privilege; the promotion already found: "standby promotion is ongoing") the promotion is found at
     * the next check, as before.
     */
    private void wakeForPromotion(Connection c) {
        try {
            Thread.sleep(20); // the promotion's signal reaches the startup process through the postmaster
            new ServerQueries(c).wakePausedRecovery();
        } catch (SQLException e) {
            log.debug("restore {}: the recovery was not woken ({}): it finds the promotion at its next check", request.restoreId(),
                    e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The WAL from the backup's start to where the replay ends. */
    private long walTotal() {
        return Math.max(0, replayEnd.get().value() - walStart);
    }

    /**
     * The replay's position against where it ends: bytes of WAL from the backup's start, and the commit time of the last
     * transaction replayed against the target time (none for the latest moment).
     */
    private BackupProgress replayProgress(Lsn replayed, Instant lastCommit) {
        long walTotal = walTotal();
        long done = Math.max(0, Math.min(walTotal, replayed.value() - walStart));
        return new BackupProgress("replaying WAL", done, walTotal, 0, 0, 0, new Progress.Replay(replayed.toString(),
                new Lsn(walStart + walTotal).toString(), lastCommit, request.targetTime().orElse(null)));
    }

    private static final Pattern LAST_TRANSACTION = Pattern.compile("last completed transaction was at log time (\\S+ \\S+)");
    private static final Pattern REDO_DONE = Pattern.compile("redo done at ([0-9A-F]+/[0-9A-F]+)");
    private static final Pattern NEW_TIMELINE = Pattern.compile("selected new timeline ID: (\\d+)");
    private static final DateTimeFormatter LOG_TIME = new DateTimeFormatterBuilder()
            .appendPattern("yyyy-MM-dd HH:mm:ss").optionalStart().appendFraction(ChronoField.NANO_OF_SECOND, 0, 9, true)
            .optionalEnd().parseLenient().appendOffset("+HH:MM", "+00").toFormatter(); // "+01", "+05:30"

    /**
     * For a recovery the engine cannot connect to: whether the server's log says it paused at the target (to be
     * promoted); a pause for any other reason fails the restore.
     */
    private boolean pausedAtTargetInLog(RecoveryLog serverLog, boolean targetIsEnd) throws IOException {
        if (!serverLog.has("pausing at the end of recovery") && !serverLog.has("recovery has paused")) {
            return false;
        }
        if (!promoteAtTarget || targetIsEnd || !serverLog.has("recovery stopping ")) {
            throw new IOException("recovery paused before reaching the target: " + failureFromLog(logFile) + " (server log: "
                    + logFile + ")");
        }
        return true;
    }

    /**
     * For a recovery the engine cannot connect to: once the server's log says it accepts connections (promoted), what
     * it reached, read from the log; empty while it runs.
     */
    private Optional<Result> endedInLog(RecoveryLog serverLog, Path movedAside, boolean targetIsEnd) {
        if (!serverLog.has("database system is ready to accept connections")) {
            return Optional.empty();
        }
        phases.lap(serverLog.has("recovery stopping ") && promoteAtTarget ? "promotion" : standby ? "replay and promotion"
                : "replay and end of recovery");
        Instant reached = serverLog.last(LAST_TRANSACTION).map(m -> {
            try {
                return OffsetDateTime.parse(m.group(1), LOG_TIME).toInstant();
            } catch (DateTimeParseException e) {
                return null;
            }
        }).orElse(null);
        String lsn = serverLog.last(REDO_DONE).map(m -> m.group(1)).orElse(null);
        int timeline = serverLog.last(NEW_TIMELINE).map(m -> Integer.parseInt(m.group(1))).orElse(0);
        boolean stopped = targetIsEnd || endsAtTheRead() || serverLog.has("recovery stopping ");
        String summary = summary(request, target, reached, "no transaction time in the server's log",
                targetIsEnd || endsAtTheRead() && !commitAfterTarget.getAsBoolean(), stopped, timeline)
                + " (followed through the server's log: the copy does not let the engine in as " + request.superuser() + ")";
        return Optional.of(new Result(target, request.port(), reached, lsn, timeline, stopped, movedAside, summary));
    }

    /** What a restore reached, against its target, for its result. */
    private static String summary(Request request, Path target, Instant reached, String noTime, boolean targetIsEnd, boolean stopped,
                                  int timeline) {
        return "restored " + request.databaseId() + " into " + target + " (port " + request.port() + "), "
                + (reached == null ? noTime : "the last transaction replayed committed at " + reached)
                + (request.targetTime().isEmpty() ? ", end of the archived WAL reached"
                : targetIsEnd ? ", no commit between it and target " + request.targetTime().get() + " in the archive: the state at the target"
                : stopped ? ", target " + request.targetTime().get() + " reached"
                : ", the archive ends before target " + request.targetTime().get() + ": restored to its end")
                + ", now on timeline " + timeline;
    }

    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // the server went away
            }
        }
    }

    /** The GIDs of the prepared transactions of the copy. */
    private static List<String> preparedTransactions(Connection c) throws SQLException {
        List<String> gids = new ArrayList<>();
        for (String gid : new ServerQueries(c).preparedTransactions()) {
            gids.add("'" + gid.replace("'", "''") + "'"); // as COMMIT PREPARED takes it
        }
        return gids;
    }

    /**
     * In place, the database's WAL stream is away while it is restored and comes back once the restore is done: it reads
     * the new timeline from its branch. Its slot, made at the first connection (in recovery, it keeps WAL from the last
     * restartpoint's redo on), holds that WAL through the checkpoint after the promotion and the hand-over's restart
     * until the stream has it. Without it the stream could find the branch's segment recycled, and the recovery window
     * had a gap from the branch to the next base backup (the bench hit it: a second in-place restore was refused).
     */
    private void keepWalForStream(Connection c) {
        if (request.streamSlot() == null) {
            return;
        }
        try {
            if (new ServerQueries(c).reservePhysicalSlot(request.streamSlot())) {
                log.info("restore {}: made replication slot {} on the restored server, so that its new timeline's WAL stays until"
                        + " the stream has it", request.restoreId(), request.streamSlot());
            }
        } catch (SQLException e) {
            // the restore is complete; the stream makes its slot itself when it is back, later
            log.warn("restore {}: could not make replication slot {} on the restored server ({}): WAL its first checkpoint recycles"
                    + " before the stream is back leaves a gap in the recovery window until the next base backup", request.restoreId(),
                    request.streamSlot(), e.getMessage());
        }
    }

    private static int timelineOf(Connection c) throws SQLException {
        return new ServerQueries(c).currentTimeline();
    }

    private static String failureFromLog(Path logFile) {
        try {
            List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
            List<String> telling = lines.stream().filter(l -> l.contains("FATAL") || l.contains("PANIC") || l.contains("ERROR")
                    || l.contains("invalid") || l.contains("could not")).toList();
            if (telling.isEmpty()) {
                return lines.isEmpty() ? "no server log" : lines.get(lines.size() - 1);
            }
            return String.join(" | ", telling.subList(Math.max(0, telling.size() - 3), telling.size()));
        } catch (IOException e) {
            return "no server log (" + e.getMessage() + ")";
        }
    }
}
