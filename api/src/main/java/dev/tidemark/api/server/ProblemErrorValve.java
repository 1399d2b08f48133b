package dev.tidemark.api.server;

import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ErrorReportValve;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;

/**
 * Errors Tomcat answers itself, before a request reaches the API (a URL with an encoded NUL or a path escaping the
 * root, a malformed request line), as application/problem+json like every other error of the API, instead of
 * Tomcat's HTML page.
 */
public class ProblemErrorValve extends ErrorReportValve {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ProblemErrorValve.class);

    @Override
    protected void report(Request request, Response response, Throwable throwable) {
        boolean tooLarge = throwable != null && String.valueOf(throwable.getMessage()).contains("too large");
        if (throwable != null && response.getStatus() >= 400 && response.getStatus() < 500) {
            // a client's mistake (a malformed request line or Host, an oversized header), not the server's: one line
            LOG.warn("request refused before it reached the API ({}): {}", response.getStatus(), oneLine(throwable.getMessage()));
        } else if (throwable != null) {
            // an exception that escaped before the API answered (a filter's): Tomcat's own line for it is turned off
            LOG.error("{} {} failed before it reached the API", request.getMethod(), request.getRequestURI(), throwable);
        }
        int status = response.getStatus();
        if (status < 400 || response.getContentWritten() > 0 || !response.setErrorReported()) {
            return;
        }
        String detail = status == 400 && tooLarge
                ? "the request was refused before it reached the API: its headers or URL are too large (" + throwable.getMessage()
                + "); a token is a few dozen characters, an id at most 63"
                : status == 400
                ? "the request was refused before it reached the API: its URL or headers are malformed (an encoded"
                + " control character or '..' in the path?); ids are lower-case letters, digits and '-'"
                : "the request was refused before it reached the API (HTTP " + status + ")";
        String body = "{\"type\":\"about:blank\",\"title\":\"" + (status == 400 ? "Bad request" : "Error")
                + "\",\"status\":" + status + ",\"detail\":\"" + detail.replace("\"", "'") + "\"}";
        try {
            response.setContentType("application/problem+json");
            response.setCharacterEncoding(StandardCharsets.UTF_8.name());
            Writer writer = response.getReporter();
            if (writer != null) {
                writer.write(body);
                response.finishResponse();
            }
        } catch (IOException | IllegalStateException e) {
            // the client is gone or the response was committed meanwhile: nothing more to say
        }
    }

    private static String oneLine(String message) {
        String m = String.valueOf(message).replaceAll("[\\r\\n\\t]+", " ");
        return m.length() > 200 ? m.substring(0, 200) + "..." : m;
    }
}
