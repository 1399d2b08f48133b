package dev.tidemark.engine.restore;

import dev.tidemark.engine.basebackup.BackupManifest;
import dev.tidemark.engine.postgres.ConfigFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Settings that make the replay faster and cost nothing in safety, for the recovery only (RecoverySettings appends them
 * and takes them out again once recovery has ended, as it does the rest of the recovery's settings):
 * <ul>
 *   <li>no restartpoints while it replays (checkpoint_timeout, max_wal_size): a crash during the recovery replays again
 *   from the backup's start, with the spool's WAL still there; only the time of that replay is at stake;</li>
 *   <li>deeper read-ahead of the blocks the WAL touches (maintenance_io_concurrency, which recovery_prefetch, on by
 *   default where the system has posix_fadvise, uses from PostgreSQL 15 on);</li>
 *   <li>shared_buffers sized to the machine (an eighth of its memory, at most 4 GiB: the server it restores may run
 *   beside it), never lower than the server's own setting: fewer pages written out and read back while the replay dirties them.</li>
 * </ul>
 * Each was measured on the point-in-time restore benchmark (docs/benchmarks.md); the system property
 * {@value #SKIP_PROPERTY} (setting names, comma-separated, or "all") leaves some out, to measure them again.
 */
final class RecoveryTuning {
    static final String SKIP_PROPERTY = "tidemark.restore.recovery-tuning-skip";
    /** The settings this writes, for RecoverySettings to take out once recovery has ended. */
    static final Set<String> NAMES = Set.of("checkpoint_timeout", "max_wal_size", "maintenance_io_concurrency", "shared_buffers");
    private static final long MAX_SHARED_BUFFERS = 4L << 30;
    private static final Pattern MEMORY = Pattern.compile("(\\d+)\\s*(kB|MB|GB|TB)?");

    private RecoveryTuning() {
    }

    /** The lines for postgresql.auto.conf; configFile: the server's own postgresql.conf (inside target or elsewhere). */
    static List<String> lines(BackupManifest manifest, Path target, Path configFile) {
        String skip = System.getProperty(SKIP_PROPERTY, "");
        Set<String> left = new LinkedHashSet<>(List.of(skip.toLowerCase(Locale.ROOT).split("\\s*,\\s*")));
        List<String> lines = new ArrayList<>();
        if (left.contains("all")) {
            return lines;
        }
        if (!left.contains("checkpoint_timeout")) {
            lines.add("checkpoint_timeout = '1d'");
        }
        if (!left.contains("max_wal_size")) {
            lines.add("max_wal_size = '1TB'");
        }
        if (!left.contains("maintenance_io_concurrency") && manifest.serverVersionNum() >= 130000) {
            lines.add("maintenance_io_concurrency = 64");
        }
        if (!left.contains("shared_buffers")) {
            sharedBuffers(target, configFile).ifPresent(bytes -> lines.add("shared_buffers = '" + (bytes >> 20) + "MB'"));
        }
        return lines;
    }

    /**
     * An eighth of the machine's memory (at most 4 GiB) when that is more than the server's own setting; empty when it
     * is not, or the setting cannot be read (then the server's own stays), or huge pages are required (they may not
     * suffice for more).
     */
    private static Optional<Long> sharedBuffers(Path target, Path configFile) {
        try {
            Set<Path> files = new LinkedHashSet<>();
            files.add(configFile);
            files.addAll(ConfigFiles.included(configFile));
            files.add(target.resolve("postgresql.auto.conf"));
            String own = "128MB"; // PostgreSQL's default
            String hugePages = "try";
            for (Path file : files) {
                if (Files.isRegularFile(file)) {
                    for (ConfigFiles.Setting s : ConfigFiles.settings(Files.readAllLines(file, StandardCharsets.UTF_8))) {
                        if (s.name().equalsIgnoreCase("shared_buffers")) {
                            own = s.value().strip();
                        } else if (s.name().equalsIgnoreCase("huge_pages")) {
                            hugePages = s.value().strip();
                        }
                    }
                }
            }
            Optional<Long> ownBytes = bytes(own);
            long machine = machineMemory();
            if (ownBytes.isEmpty() || machine <= 0 || hugePages.equalsIgnoreCase("on")) {
                return Optional.empty();
            }
            long wanted = Math.min(MAX_SHARED_BUFFERS, machine / 8);
            return wanted > ownBytes.get() ? Optional.of(wanted) : Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** A memory setting in bytes (no unit: 8 kB blocks); empty when it is not one this reads. */
    static Optional<Long> bytes(String value) {
        Matcher m = MEMORY.matcher(value.strip());
        if (!m.matches()) {
            return Optional.empty();
        }
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "" : m.group(2);
        return Optional.of(switch (unit) {
            case "kB" -> n << 10;
            case "MB" -> n << 20;
            case "GB" -> n << 30;
            case "TB" -> n << 40;
            default -> n * 8192;
        });
    }

    private static long machineMemory() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"), StandardCharsets.US_ASCII)) {
            if (line.startsWith("MemTotal:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) << 10;
            }
        }
        return 0;
    }
}
