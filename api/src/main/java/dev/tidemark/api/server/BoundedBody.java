package dev.tidemark.api.server;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;

/**
 * A request whose body was read whole, within a size limit and a deadline, before anything else sees it: the limit
 * holds for every transfer encoding (a chunked body declares no length), and a client sending a byte now and then is
 * cut off instead of holding the request open.
 */
final class BoundedBody extends HttpServletRequestWrapper {
    private final byte[] body;

    private BoundedBody(HttpServletRequest request, byte[] body) {
        super(request);
        this.body = body;
    }

    /** Thrown when the body is larger than the limit or slower than the deadline; nothing of it was used. */
    static final class Refused extends Exception {
        final int status;

        Refused(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    /** Reads the body (at most maxBytes, within deadlineMillis) and returns a request that serves it from memory. */
    static HttpServletRequest read(HttpServletRequest request, long maxBytes, long deadlineMillis) throws IOException, Refused {
        long deadline = System.nanoTime() + deadlineMillis * 1_000_000;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        InputStream in = request.getInputStream();
        int n;
        while ((n = in.read(buffer)) >= 0) {
            out.write(buffer, 0, n);
            if (out.size() > maxBytes) {
                throw new Refused(413, "request bodies of this API are at most " + maxBytes + " bytes");
            }
            if (System.nanoTime() > deadline) {
                throw new Refused(408, "the request body took longer than " + deadlineMillis / 1000 + " s to arrive");
            }
        }
        return new BoundedBody(request, out.toByteArray());
    }

    @Override
    public ServletInputStream getInputStream() {
        ByteArrayInputStream in = new ByteArrayInputStream(body);
        return new ServletInputStream() {
            @Override
            public int read() {
                return in.read();
            }

            @Override
            public int read(byte[] b, int off, int len) {
                return in.read(b, off, len);
            }

            @Override
            public boolean isFinished() {
                return in.available() == 0;
            }

            @Override
            public boolean isReady() {
                return true;
            }

            @Override
            public void setReadListener(ReadListener listener) {
                throw new UnsupportedOperationException("the body was read already");
            }
        };
    }

    @Override
    public BufferedReader getReader() {
        String encoding = getCharacterEncoding();
        Charset charset = encoding == null ? StandardCharsets.UTF_8 : Charset.forName(encoding);
        return new BufferedReader(new InputStreamReader(getInputStream(), charset));
    }

    @Override
    public int getContentLength() {
        return body.length;
    }

    @Override
    public long getContentLengthLong() {
        return body.length;
    }
}
