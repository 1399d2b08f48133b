package dev.tidemark.storage.s3;

import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.testing.ObjectStoreContract;
import dev.tidemark.storage.testing.S3ProxyServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.util.concurrent.atomic.AtomicInteger;

/** The object store contract against an in-process S3 server. */
class S3ObjectStoreTest extends ObjectStoreContract {
    private static S3ProxyServer s3;
    private static final AtomicInteger BUCKETS = new AtomicInteger();

    @BeforeAll
    static void startS3() {
        s3 = S3ProxyServer.start();
    }

    @AfterAll
    static void stopS3() {
        s3.close();
    }

    @Override
    protected ObjectStore newStore() throws Exception {
        return s3.store("contract-" + BUCKETS.incrementAndGet());
    }
}
