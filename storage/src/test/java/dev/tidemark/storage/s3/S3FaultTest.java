package dev.tidemark.storage.s3;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.tidemark.storage.ObjectWriter;
import dev.tidemark.storage.testing.S3ProxyServer;
import io.minio.ListMultipartUploadsArgs;
import io.minio.MinioAsyncClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How the S3 store behaves when the store throttles, drops connections or refuses: retries, bounds, cleanup. */
class S3FaultTest {
    private static S3ProxyServer s3;

    @BeforeAll
    static void startS3() {
        s3 = S3ProxyServer.start();
    }

    @AfterAll
    static void stopS3() {
        s3.close();
    }

    private static byte[] random(int size) {
        byte[] b = new byte[size];
        new Random(size).nextBytes(b);
        return b;
    }

    @Test
    void throttlingAndDroppedConnectionsAreRetried() throws Exception {
        s3.store("faults-retry").close();
        byte[] content = random(1000);
        int before = s3.faultsServed();
        s3.slowDownNext(2);
        s3.cutNext(1);
        // a new store opens new connections, so the faults meet its requests
        try (S3ObjectStore store = new S3ObjectStore(s3.settings("faults-retry"))) {
            store.put("k", new ByteArrayInputStream(content));
        }
        s3.slowDownNext(2);
        try (S3ObjectStore store = new S3ObjectStore(s3.settings("faults-retry")); InputStream in = store.get("k")) {
            assertThat(in.readAllBytes()).isEqualTo(content);
        }
        assertThat(s3.faultsServed() - before).isEqualTo(5);
    }

    @Test
    void aPooledConnectionTheServerClosedWhileIdleIsReplacedWithoutARetryOrAWarning() throws Exception {
        byte[] content = random(2000);
        Logger storeLog = (Logger) LoggerFactory.getLogger(S3ObjectStore.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        storeLog.addAppender(logged);
        try (S3ObjectStore warm = s3.store("faults-idle")) {
            warm.put("k", new ByteArrayInputStream(content)); // the server answers within the idle time below from now on
        }
        // as S3 servers and load balancers do, but sooner than the store lets a pooled connection idle
        s3.closeIdleAfter(Duration.ofSeconds(1));
        try (S3ObjectStore store = new S3ObjectStore(s3.settings("faults-idle"))) {
            assertThat(store.stat("k")).isPresent();
            for (int i = 0; i < 3; i++) {
                Thread.sleep(1500); // the pooled connection is closed by the server meanwhile
                try (InputStream in = store.get("k")) {
                    assertThat(in.readAllBytes()).isEqualTo(content);
                }
                Thread.sleep(1500);
                store.put("k" + i, new ByteArrayInputStream(content));
            }
        } finally {
            s3.closeIdleAfter(Duration.ZERO);
            storeLog.detachAppender(logged);
        }
        assertThat(logged.list).extracting(ILoggingEvent::getFormattedMessage).as("no retry, no warning").isEmpty();
    }

    @Test
    void retriesAreBoundedAndTheErrorSaysWhy() throws Exception {
        S3Settings settings = s3.settings("faults-bounded").withRetries(3, Duration.ofSeconds(10), Duration.ofMillis(10));
        new S3ObjectStore(settings).verify(true).close();
        s3.slowDownNext(50);
        int before = s3.faultsServed();
        try (S3ObjectStore store = new S3ObjectStore(settings)) {
            assertThatThrownBy(() -> store.put("k", new ByteArrayInputStream(new byte[10])))
                    .isInstanceOf(IOException.class).hasMessageContaining("SlowDown");
            assertThat(s3.faultsServed() - before).as("attempts").isEqualTo(3);
        } finally {
            s3.slowDownNext(0);
        }
        try (S3ObjectStore store = new S3ObjectStore(settings)) {
            assertThat(store.stat("k")).as("nothing was stored").isEmpty();
        }
    }

    @Test
    void anAbandonedMultipartUploadIsAborted() throws Exception {
        S3Settings settings = s3.settings("faults-abort").withFirstPartBytes(S3Settings.MIN_PART);
        try (S3ObjectStore store = new S3ObjectStore(settings).verify(true)) {
            try (ObjectWriter writer = store.create("big")) {
                writer.write(random(12 * 1024 * 1024));
                assertThat(uploads(settings)).as("parts were uploaded").isEqualTo(1);
            }
            assertThat(uploads(settings)).isZero();
            assertThat(store.stat("big")).isEmpty();
        }
    }

    @Test
    void theStoreGoingAwayMidUploadIsAClearErrorAndLeavesNoObject() throws Exception {
        S3Settings settings = s3.settings("faults-midway").withFirstPartBytes(S3Settings.MIN_PART).withRetries(3, Duration.ofSeconds(3),
                Duration.ofMillis(20));
        try (S3ObjectStore store = new S3ObjectStore(settings).verify(true)) {
            ObjectWriter writer = store.create("cut");
            writer.write(random(6 * 1024 * 1024));
            s3.outage(true);
            writer.write(random(1024));
            assertThatThrownBy(writer::commit).isInstanceOf(IOException.class).hasMessageContaining("cut");
            writer.close();
        } finally {
            s3.outage(false);
        }
        try (S3ObjectStore store = new S3ObjectStore(settings)) {
            assertThat(store.stat("cut")).isEmpty();
        }
    }

    @Test
    void wrongCredentialsFailAtOnceWithAHint() {
        S3Settings wrong = S3Settings.of(s3.directEndpoint(), "us-east-1", "faults-creds", S3ProxyServer.ACCESS_KEY, "not-the-secret", 10_000);
        assertThatThrownBy(() -> new S3ObjectStore(wrong).verify(true)).isInstanceOf(IOException.class)
                .hasMessageContaining("access key").hasMessageNotContaining("not-the-secret");
    }

    @Test
    void partsGrowSoThatLargeObjectsFitThePartLimit() {
        S3ObjectStore store = new S3ObjectStore(S3Settings.of("http://127.0.0.1:1", null, "any-bucket", "a", "b", 1000));
        long total = 0;
        for (int i = 0; i < 999; i++) {
            total += store.partSize(i);
        }
        assertThat(store.partSize(0)).isEqualTo(8L << 20);
        assertThat(total).as("bytes that fit in 1,000 parts").isGreaterThan(200L << 30);
    }

    private static int uploads(S3Settings settings) throws Exception {
        MinioAsyncClient client = MinioAsyncClient.builder().endpoint(s3.directEndpoint())
                .credentials(S3ProxyServer.ACCESS_KEY, S3ProxyServer.SECRET_KEY).build();
        return client.listMultipartUploads(ListMultipartUploadsArgs.builder().bucket(settings.bucket()).build()).get()
                .result().uploads().size();
    }
}
