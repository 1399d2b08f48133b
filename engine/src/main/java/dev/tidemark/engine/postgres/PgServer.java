package dev.tidemark.engine.postgres;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Runs the server programs on one data directory: initdb, start, stop, and whether its postmaster is alive. */
public final class PgServer {

    /** How the server is started: its configuration in the data directory, in a file elsewhere, or by pg_ctlcluster. */
    public sealed interface Launch {
        /** pg_ctl -D DATADIR start: postgresql.conf in the data directory. */
        record InDataDirectory() implements Launch {
        }

        /** pg_ctl -D DATADIR -o "-c config_file=FILE" start: the configuration (and data_directory) in FILE. */
        record ConfigFile(Path file) implements Launch {
            public ConfigFile {
                // pg_ctl hands -o to a shell: the path goes inside single quotes, where only a quote acts
                if (!file.isAbsolute() || file.toString().contains("'") || file.toString().chars().anyMatch(Character::isISOControl)) {
                    throw new IllegalArgumentException("configuration file " + file + " is not an absolute path without quotes and"
                            + " control characters, which pg_ctl could be given");
                }
            }
        }

        /** pg_ctlcluster VERSION NAME start: Debian's postgresql-common, its log and options (pg_ctl.conf) its own. */
        record DebianCluster(ServerLayout.DebianCluster cluster) implements Launch {
        }
    }

    /** Makes the server handle of a data directory (the binaries and user are the engine's). */
    @FunctionalInterface
    public interface Factory {
        PgServer at(Path dataDirectory);
    }

    public static Factory factory(PgBinaries binaries, ServerUser user) {
        return dir -> new PgServer(binaries, user, dir);
    }
    private final PgBinaries binaries;
    private final ServerUser user;
    private final Path dataDirectory;
    private final Launch launch;
    /** Settings ("name=value") the server is normally given on its command line, before any start's own. */
    private final List<String> ownSettings;

    public PgServer(PgBinaries binaries, ServerUser user, Path dataDirectory) {
        this(binaries, user, dataDirectory, new Launch.InDataDirectory(), List.of());
    }

    private PgServer(PgBinaries binaries, ServerUser user, Path dataDirectory, Launch launch, List<String> ownSettings) {
        this.binaries = binaries;
        this.user = user;
        this.dataDirectory = dataDirectory.toAbsolutePath().normalize();
        this.launch = launch;
        this.ownSettings = List.copyOf(ownSettings);
    }

    /** The same server, started the given way. */
    public PgServer launchedBy(Launch how) {
        return new PgServer(binaries, user, dataDirectory, how, ownSettings);
    }

    /**
     * The same server, given these settings ("name=value") on its command line at every start, as it normally is (a
     * server started by hand with pg_ctl -o '-p 5433 -c ...'; see {@link #commandLineSettings}); a start's own settings
     * come after them and win. Not for a Debian cluster started by pg_ctlcluster, whose options are its pg_ctl.conf's.
     */
    public PgServer withOwnSettings(List<String> settings) {
        return new PgServer(binaries, user, dataDirectory, launch, settings);
    }

    public List<String> ownSettings() {
        return ownSettings;
    }

    /** Single-letter options of the postmaster that stand for a setting, with the setting's name. */
    private static final java.util.Map<String, String> SHORT_OPTIONS = java.util.Map.of("-p", "port", "-k", "unix_socket_directories",
            "-h", "listen_addresses", "-B", "shared_buffers", "-N", "max_connections");

    /**
     * The settings the server was last started with on its command line, read from the data directory's postmaster.opts
     * (the postmaster writes its arguments there at every start; pg_ctl restart reuses them): "-c name=value",
     * "--name=value" and -p, -k, -h, -B, -N as "name=value", without the data directory and the configuration file (the
     * launch gives those). Empty when there is no such file; null when the file holds what is not understood here (another
     * option, a quote in a value), for the caller to say so.
     */
    public static List<String> commandLineSettings(Path dataDirectory) throws IOException {
        Path opts = dataDirectory.resolve("postmaster.opts");
        if (!Files.isRegularFile(opts)) {
            return List.of();
        }
        String line = Files.readString(opts, StandardCharsets.UTF_8).strip();
        List<String> args = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(" \"([^\"]*)\"").matcher(line);
        int at = line.indexOf(" \""); // the program's path first, unquoted
        if (at < 0) {
            return List.of();
        }
        m.region(at, line.length());
        int end = at;
        while (m.lookingAt()) {
            args.add(m.group(1));
            end = m.end();
            m.region(end, line.length());
        }
        if (end != line.length()) {
            return null; // a quote inside an argument: not told apart here
        }
        List<String> settings = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            String setting;
            if (a.equals("-D")) {
                i++;
                continue;
            } else if (a.equals("-c") && i + 1 < args.size()) {
                setting = args.get(++i);
            } else if (a.startsWith("-c") && a.length() > 2) {
                setting = a.substring(2);
            } else if (a.startsWith("--") && a.contains("=")) {
                setting = a.substring(2);
            } else if (SHORT_OPTIONS.containsKey(a) && i + 1 < args.size()) {
                setting = SHORT_OPTIONS.get(a) + "=" + args.get(++i);
            } else {
                return null;
            }
            int eq = setting.indexOf('=');
            if (eq <= 0 || setting.contains("'")) {
                return null;
            }
            String name = setting.substring(0, eq).replace('-', '_').toLowerCase(java.util.Locale.ROOT);
            if (!name.equals("config_file") && !name.equals("data_directory")) {
                settings.add(name + setting.substring(eq));
            }
        }
        return settings;
    }

    public Launch launch() {
        return launch;
    }

    public Path dataDirectory() {
        return dataDirectory;
    }

    public PgBinaries binaries() {
        return binaries;
    }

    public ServerUser user() {
        return user;
    }

    /** Creates a new cluster with data checksums and trust authentication for the server's own user. */
    public void initdb(String superuser, List<String> extraArgs) throws IOException {
        Files.createDirectories(dataDirectory);
        user.own(dataDirectory);
        List<String> cmd = new ArrayList<>(List.of(binaries.tool("initdb").toString(), "-D", dataDirectory.toString(),
                "-U", superuser, "-A", "trust", "--data-checksums", "-E", "UTF8", "--locale=C"));
        cmd.addAll(extraArgs);
        run(cmd, Duration.ofMinutes(2), "initdb");
    }

    /**
     * Starts the postmaster and waits until it accepts connections (for a server in recovery: read-only ones). Its
     * output goes to logFile, except under pg_ctlcluster, which logs where the cluster's configuration says.
     */
    public void start(Path logFile, Duration timeout) throws IOException {
        start(logFile, timeout, List.of());
    }

    /**
     * As {@link #start(Path, Duration)}, with settings ("name=value") given on the server's command line: they outrank
     * the configuration files, and a reload leaves them as they are. Their values must hold no single quote; not for a
     * Debian cluster started by pg_ctlcluster.
     */
    public void start(Path logFile, Duration timeout, List<String> settings) throws IOException {
        String seconds = Long.toString(Math.max(1, timeout.toSeconds()));
        if (java.util.stream.Stream.concat(ownSettings.stream(), settings.stream()).anyMatch(v -> v.contains("'") || !v.contains("="))) {
            throw new IllegalArgumentException("a command-line setting is name=value without a single quote: " + settings);
        }
        if (launch instanceof Launch.DebianCluster debian) {
            if (!settings.isEmpty()) {
                throw new IllegalArgumentException("pg_ctlcluster starts a Debian cluster with its own options only");
            }
            run(List.of(ServerLayout.PG_CTLCLUSTER.toString(), debian.cluster().version(), debian.cluster().name(), "start", "--",
                    "-w", "-t", seconds), timeout.plusSeconds(10), "pg_ctlcluster start");
            return;
        }
        Files.createDirectories(logFile.getParent());
        if (!Files.exists(logFile)) {
            Files.createFile(logFile);
        }
        user.ownOne(logFile);
        List<String> command = new ArrayList<>(List.of(binaries.tool("pg_ctl").toString(), "-D", dataDirectory.toString(),
                "-l", logFile.toString()));
        List<String> options = new ArrayList<>();
        if (launch instanceof Launch.ConfigFile config) {
            options.add("-c 'config_file=" + config.file() + "'");
        }
        ownSettings.forEach(setting -> options.add("-c '" + setting + "'"));
        settings.forEach(setting -> options.add("-c '" + setting + "'"));
        if (!options.isEmpty()) {
            command.addAll(List.of("-o", String.join(" ", options)));
        }
        command.addAll(List.of("-w", "-t", seconds, "start"));
        if (isRunning()) {
            run(command, timeout.plusSeconds(10), "pg_ctl start"); // pg_ctl's own answer, not the running server's status
        } else {
            long launched = System.currentTimeMillis() / 1000;
            runUntil(command, timeout.plusSeconds(10), "pg_ctl start", () -> accepting(launched));
        }
    }

    /**
     * Whether the postmaster started at or after launchedEpochSeconds says it accepts connections (its pid file's status
     * line "ready", or "standby" for a server in recovery), as pg_ctl -w waits for; pg_ctl looks every 100 ms, this every 10.
     */
    private boolean accepting(long launchedEpochSeconds) {
        Path pidFile = dataDirectory.resolve("postmaster.pid");
        try {
            List<String> lines = Files.readAllLines(pidFile, StandardCharsets.UTF_8);
            if (lines.size() < 8 || !lines.get(0).trim().matches("\\d+")) {
                return false;
            }
            // a pid file left by a server that crashed, its pid since reused, is not this start's (pg_ctl's own check)
            if (Long.parseLong(lines.get(2).trim()) < launchedEpochSeconds - 2) {
                return false;
            }
            String status = lines.get(7).trim();
            return (status.equals("ready") || status.equals("standby"))
                    && ProcessHandle.of(Long.parseLong(lines.get(0).trim())).filter(ProcessHandle::isAlive).isPresent();
        } catch (IOException | RuntimeException e) {
            return false; // not there yet, or being written
        }
    }

    /** Stops the postmaster (fast mode: active transactions rolled back, a clean shutdown checkpoint). */
    public void stop() throws IOException {
        Optional<Long> pid = postmasterPid();
        if (pid.isEmpty()) {
            return;
        }
        // done as pg_ctl -w sees it: the postmaster gone and its pid file removed (looked for every 10 ms, not 100)
        runUntil(List.of(binaries.tool("pg_ctl").toString(), "-D", dataDirectory.toString(), "-m", "fast", "-w", "-t", "60", "stop"),
                Duration.ofSeconds(70), "pg_ctl stop", () -> ProcessHandle.of(pid.get()).filter(ProcessHandle::isAlive).isEmpty()
                        && !Files.exists(dataDirectory.resolve("postmaster.pid")));
    }

    /**
     * Takes settings given on the command line at its start (start's "name=value") out of the options a later
     * {@code pg_ctl restart} reuses (postmaster.opts): that restart then starts the server without them. The running
     * server keeps them until it is restarted.
     */
    public void forgetStartSettings(List<String> settings) throws IOException {
        Path opts = dataDirectory.resolve("postmaster.opts");
        String line = Files.readString(opts, StandardCharsets.UTF_8);
        String kept = line;
        for (String setting : settings) {
            kept = kept.replace(" \"-c\" \"" + setting + "\"", ""); // the postmaster writes each argument quoted
        }
        if (!kept.equals(line)) {
            Path fresh = opts.resolveSibling("postmaster.opts.tidemark");
            Files.writeString(fresh, kept, StandardCharsets.UTF_8);
            user.ownOne(fresh);
            Files.move(fresh, opts, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Asks a server in recovery to promote (pg_ctl promote, without waiting: the caller watches it end recovery). */
    public void promote() throws IOException {
        run(List.of(binaries.tool("pg_ctl").toString(), "-D", dataDirectory.toString(), "-W", "promote"), Duration.ofSeconds(30),
                "pg_ctl promote");
    }

    /**
     * Stops the server at once (pg_ctl -m immediate: the postmaster ends every process of the server, no checkpoint;
     * the next start recovers). Killing the postmaster alone would leave its children running.
     */
    public void stopImmediately() throws IOException {
        if (postmasterPid().isEmpty()) {
            return;
        }
        try {
            run(List.of(binaries.tool("pg_ctl").toString(), "-D", dataDirectory.toString(), "-m", "immediate", "-w", "-t", "30", "stop"),
                    Duration.ofSeconds(40), "pg_ctl stop");
        } catch (IOException e) {
            kill();
        }
    }

    /** Kills the postmaster with SIGKILL (for crash tests); the server recovers from WAL on its next start. */
    public void kill() throws IOException {
        Optional<Long> pid = postmasterPid();
        if (pid.isPresent()) {
            ProcessHandle.of(pid.get()).ifPresent(ProcessHandle::destroyForcibly);
            ProcessHandle.of(pid.get()).ifPresent(h -> h.onExit().join());
        }
    }

    /** The PID of a live postmaster of this data directory, if one runs. */
    public Optional<Long> postmasterPid() {
        Path pidFile = dataDirectory.resolve("postmaster.pid");
        try {
            if (!Files.isRegularFile(pidFile)) {
                return Optional.empty();
            }
            List<String> lines = Files.readAllLines(pidFile, StandardCharsets.UTF_8);
            if (lines.isEmpty() || !lines.get(0).trim().matches("\\d+")) {
                return Optional.empty();
            }
            long pid = Long.parseLong(lines.get(0).trim());
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).map(h -> pid);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public boolean isRunning() {
        return postmasterPid().isPresent();
    }

    /** Runs a server program as the server's user; a non-zero exit becomes an exception carrying its output. */
    public String run(List<String> command, Duration timeout, String what) throws IOException {
        return runUntil(command, timeout, what, () -> false);
    }

    /**
     * Runs command as the server's user until it ends or done says true: pg_ctl waiting (-w) checks only every 100 ms,
     * so start and stop return as soon as what they wait for has happened ("" is then returned, and pg_ctl ends by itself
     * a moment later). Its output is read by a thread of its own, so the timeout holds even while the program prints
     * nothing or a child it started keeps the output open (a server started without a log file).
     */
    private String runUntil(List<String> command, Duration timeout, String what, java.util.function.BooleanSupplier done) throws IOException {
        Process process = ChildEnvironment.builder(user.command(command)).redirectErrorStream(true).start();
        process.getOutputStream().close();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        Thread reader = new Thread(() -> {
            try {
                process.getInputStream().transferTo(out);
            } catch (IOException e) {
                // the process ended; what it printed so far is kept
            }
        }, "server-program-output");
        reader.setDaemon(true);
        reader.start();
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (!process.waitFor(10, TimeUnit.MILLISECONDS)) {
                if (done.getAsBoolean()) {
                    return "";
                }
                if (System.nanoTime() > deadline) {
                    process.destroyForcibly();
                    throw new IOException(what + " did not finish within " + timeout.toSeconds() + " s");
                }
            }
            reader.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException(what + " was interrupted", e);
        }
        String text;
        synchronized (out) { // ByteArrayOutputStream's methods lock it: what the reader wrote so far
            text = out.toString(StandardCharsets.UTF_8).trim();
        }
        if (process.exitValue() != 0) {
            throw new IOException(what + " failed (exit " + process.exitValue() + "): " + text);
        }
        return text;
    }
}
