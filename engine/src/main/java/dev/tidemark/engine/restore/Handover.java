package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.PgServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * How a restore leaves the server: once recovery has ended, running as it is normally started (a Debian cluster
 * restarted by pg_ctlcluster, so its service, log and options are its own again) or stopped for the service manager
 * when the operator asked; after a failed in-place restore, the original database, put back, started again.
 */
final class Handover {
    private static final Logger log = LoggerFactory.getLogger(RestoreRunner.class);

    private Handover() {
    }

    /**
     * After a successful recovery by recovered (started for the recovery): a copy beside runs on; a database restored in
     * place is restarted as asUsual starts it, with the settings of its own command line (or stopped, when asked), so
     * nothing of the recovery's settings stays loaded;
     * or, where the recovery's restart-only settings were given on its command line, it reloads its configuration
     * instead (reload: empty when that left it as a restart would, else why not) and runs on.
     */
    static String afterRecovery(RestoreRunner.Request request, PgServer recovered, PgServer.Launch asUsual, List<String> ownSettings,
                                Path logFile, List<String> commandLine, Supplier<Optional<String>> reload) throws IOException {
        if (request.afterRecovery() == RestoreRunner.AfterRecovery.STOPPED) {
            recovered.stop();
            log.info("restore {}: the server is stopped, as asked: start it the way it is normally started", request.restoreId());
            return "; the server is stopped, as asked";
        }
        if (!request.inPlace()) {
            return ""; // a copy beside runs on as its recovery started it (its recovery settings are gone from its files)
        }
        if (!commandLine.isEmpty()) {
            // started by pg_ctl as it normally is, and what a reload cannot take back given on its command line
            // (RecoverySettings.canReloadAfter): reloaded, it runs as a restart would leave it, without the restart's
            // shutdown checkpoint and start-up
            Optional<String> refused = reload.get();
            if (refused.isEmpty()) {
                try {
                    recovered.forgetStartSettings(commandLine); // a later pg_ctl restart starts it without them
                    log.info("restore {}: the server runs on, its configuration reloaded without the recovery's settings (no restart"
                            + " needed)", request.restoreId());
                    return "; running on, its own configuration reloaded (no restart needed)";
                } catch (IOException e) {
                    refused = Optional.of("postmaster.opts could not be rewritten (" + e.getMessage() + ")");
                }
            }
            log.info("restore {}: restarting the server rather than reloading its configuration: {}", request.restoreId(), refused.get());
        }
        // in place, the production server runs on: restarted, it runs with none of what the restore set for its recovery
        // (restore_command, log prefix and language), the way it is normally started
        recovered.stop();
        try {
            recovered.launchedBy(asUsual).withOwnSettings(ownSettings).start(logFile, request.startTimeout());
        } catch (IOException e) {
            // the restored database is complete: keep it available the way the recovery ran it
            log.warn("restore {}: restarting the server by {} failed ({}); started again as the recovery ran it: restart it by {}"
                    + " when convenient", request.restoreId(), describe(asUsual), e.getMessage(), describe(asUsual));
            recovered.start(logFile, request.startTimeout());
            return "; restarting it by " + describe(asUsual) + " failed, so it runs as the recovery started it (" + describe(recovered.launch())
                    + ")";
        }
        log.info("restore {}: the server was restarted the way it is normally started ({})", request.restoreId(), describe(asUsual));
        return "; restarted by " + describe(asUsual);
    }

    /**
     * After a failed in-place restore put the original data directory back: that database started again, as usual.
     * Returns where it is and how it was left, for the failure's message.
     */
    static String restartOriginal(RestoreRunner.Request request, PgServer original, Path logFile) {
        Path directory = original.dataDirectory();
        if (request.afterRecovery() == RestoreRunner.AfterRecovery.STOPPED) {
            return "the original data directory is back at " + directory + ", stopped as asked: start it the way it is normally started";
        }
        try {
            original.start(logFile, request.startTimeout());
            log.info("restore {} failed: the original database is back at {} and running again ({})", request.restoreId(),
                    directory, describe(original.launch()));
            return "the original data directory is back at " + directory + " and running again (" + describe(original.launch()) + ")";
        } catch (IOException e) {
            log.warn("restore {} failed: the original database is back at {} but did not start again ({}): start it the way it is"
                    + " normally started", request.restoreId(), directory, e.getMessage());
            return "the original data directory is back at " + directory + " but did not start again (" + e.getMessage()
                    + "): start it the way it is normally started";
        }
    }

    private static String describe(PgServer.Launch launch) {
        return switch (launch) {
            case PgServer.Launch.InDataDirectory d -> "pg_ctl";
            case PgServer.Launch.ConfigFile c -> "pg_ctl with config_file=" + c.file();
            case PgServer.Launch.DebianCluster d -> "pg_ctlcluster " + d.cluster().version() + " " + d.cluster().name();
        };
    }
}
