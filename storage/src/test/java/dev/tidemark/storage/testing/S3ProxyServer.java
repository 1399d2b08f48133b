package dev.tidemark.storage.testing;

import dev.tidemark.storage.s3.S3ObjectStore;
import dev.tidemark.storage.s3.S3Settings;
import org.gaul.s3proxy.junit.S3ProxyJunitCore;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An in-process S3 server (S3Proxy over a temp directory) for tests, with a fault switch: a TCP forwarder in front
 * answers the next N connections with "503 SlowDown", as a throttling S3 does, or cuts them, and can close idle ones.
 */
public final class S3ProxyServer implements AutoCloseable {
    public static final String ACCESS_KEY = "tidemark-test";
    public static final String SECRET_KEY = "tidemark-test-secret";
    private final S3ProxyJunitCore proxy;
    private final ServerSocket front;
    private final AtomicInteger slowDowns = new AtomicInteger();
    private final AtomicInteger cuts = new AtomicInteger();
    private final AtomicInteger faultsServed = new AtomicInteger();
    private final Thread acceptor;
    private final java.util.Set<Socket> open = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean outage;
    private volatile long idleCloseMillis;

    private S3ProxyServer() throws Exception {
        proxy = new S3ProxyJunitCore.Builder().withCredentials(ACCESS_KEY, SECRET_KEY).build();
        proxy.beforeEach();
        front = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = Thread.ofPlatform().daemon().name("s3-fault-front").start(this::accept);
    }

    public static S3ProxyServer start() {
        try {
            return new S3ProxyServer();
        } catch (Exception e) {
            throw new IllegalStateException("S3Proxy did not start: " + e.getMessage(), e);
        }
    }

    /** The S3 endpoint behind the fault switch. */
    public String endpoint() {
        return "http://127.0.0.1:" + front.getLocalPort();
    }

    /** The S3 endpoint without faults. */
    public String directEndpoint() {
        URI uri = proxy.getUri();
        return "http://127.0.0.1:" + uri.getPort();
    }

    /** Settings for a store in bucket (fast retries, so fault tests stay quick). */
    public S3Settings settings(String bucket) {
        return S3Settings.of(endpoint(), "us-east-1", bucket, ACCESS_KEY, SECRET_KEY, 10_000)
                .withRetries(6, Duration.ofSeconds(20), Duration.ofMillis(20));
    }

    /** A store over a bucket created for it. */
    public S3ObjectStore store(String bucket) throws IOException {
        return new S3ObjectStore(settings(bucket)).verify(true);
    }

    /** The next n new connections are answered "503 SlowDown". */
    public void slowDownNext(int n) {
        slowDowns.set(n);
    }

    /** The next n new connections are closed without an answer. */
    public void cutNext(int n) {
        cuts.set(n);
    }

    /** While on, every connection (open ones included) is cut: the store is unreachable. */
    public void outage(boolean on) {
        outage = on;
        if (on) {
            for (Socket s : open) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing is the point
                }
            }
        }
    }

    /**
     * From now on a connection that carries nothing either way for idle is closed, as S3 servers and load balancers do
     * with idle keep-alive connections; zero turns it off.
     */
    public void closeIdleAfter(Duration idle) {
        idleCloseMillis = idle.toMillis();
    }

    public int faultsServed() {
        return faultsServed.get();
    }

    private void accept() {
        while (!front.isClosed()) {
            try {
                Socket client = front.accept();
                Thread.ofPlatform().daemon().start(() -> serve(client));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket client) {
        open.add(client);
        try (client) {
            if (outage) {
                faultsServed.incrementAndGet();
                return;
            }
            if (slowDowns.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                faultsServed.incrementAndGet();
                readHead(client.getInputStream());
                String body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                        + "<Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>";
                byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
                String head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: " + bytes.length
                        + "\r\nConnection: close\r\n\r\n";
                OutputStream out = client.getOutputStream();
                out.write(head.getBytes(StandardCharsets.US_ASCII));
                out.write(bytes);
                out.flush();
                return;
            }
            if (cuts.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                faultsServed.incrementAndGet();
                readHead(client.getInputStream());
                return;
            }
            try (Socket backend = new Socket(InetAddress.getLoopbackAddress(), proxy.getUri().getPort())) {
                AtomicLong lastActive = new AtomicLong(System.nanoTime());
                long idle = idleCloseMillis;
                if (idle > 0) {
                    client.setSoTimeout((int) idle);
                    backend.setSoTimeout((int) idle);
                }
                Thread up = Thread.ofPlatform().daemon().start(() -> pipe(client, backend, lastActive, idle));
                pipe(backend, client, lastActive, idle);
                up.join(1000);
            }
        } catch (IOException | InterruptedException ignored) {
            // a test fault or a closed connection
        } finally {
            open.remove(client);
        }
    }

    private static void readHead(InputStream in) throws IOException {
        int state = 0;
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                return;
            }
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
        }
    }

    /** Copies from one side to the other; with idleMillis > 0, closes both once neither side sent anything for that long. */
    private static void pipe(Socket from, Socket to, AtomicLong lastActive, long idleMillis) {
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            byte[] buffer = new byte[64 * 1024];
            while (true) {
                int n;
                try {
                    n = in.read(buffer);
                } catch (SocketTimeoutException e) {
                    if (System.nanoTime() - lastActive.get() >= idleMillis * 1_000_000) {
                        from.close();
                        to.close();
                        return;
                    }
                    continue; // the other direction was busy
                }
                if (n < 0) {
                    break;
                }
                lastActive.set(System.nanoTime());
                out.write(buffer, 0, n);
                out.flush();
            }
            to.shutdownOutput();
        } catch (IOException ignored) {
            // one side closed
        }
    }

    @Override
    public void close() {
        try {
            front.close();
        } catch (IOException ignored) {
            // already closed
        }
        proxy.afterEach();
    }
}
