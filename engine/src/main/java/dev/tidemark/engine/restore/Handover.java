package dev.tidemark.engine.restore;

import dev.tidemark.engine.postgres.PgServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;

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
     * place is restarted as asUsual starts it (or stopped, when asked), so nothing of the recovery's settings stays loaded.
     */
    static String afterRecovery(RestoreRunner.Request request, PgServer recovered, PgServer.Launch asUsual, Path logFile)
            throws IOException {
        if (request.afterRecovery() == RestoreRunner.AfterRecovery.STOPPED) {
            recovered.stop();
            log.info("restore {}: the server is stopped, as asked: start it the way it is normally started", request.restoreId());
            return "; the server is stopped, as asked";
        }
        if (!request.inPlace()) {
            return ""; // a copy beside runs on as its recovery started it (its recovery settings are gone from its files)
        }
        // in place, the production server runs on: restarted, it runs with none of what the restore set for its recovery
        // (restore_command, log prefix and language), the way it is normally started
        recovered.stop();
        try {
            recovered.launchedBy(asUsual).start(logFile, request.startTimeout());
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
