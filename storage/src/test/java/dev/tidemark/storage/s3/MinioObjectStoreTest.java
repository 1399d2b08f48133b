package dev.tidemark.storage.s3;

import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.testing.ObjectStoreContract;
import org.testcontainers.containers.MinIOContainer;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

import java.util.concurrent.atomic.AtomicInteger;

/** The object store contract against a real MinIO server; runs only where a Docker engine exists. */
@Testcontainers(disabledWithoutDocker = true)
class MinioObjectStoreTest extends ObjectStoreContract {
    @Container
    static final MinIOContainer MINIO = new MinIOContainer("minio/minio:RELEASE.2025-09-07T16-13-09Z");
    private static final AtomicInteger BUCKETS = new AtomicInteger();

    @Override
    protected ObjectStore newStore() throws Exception {
        return new S3ObjectStore(S3Settings.of(MINIO.getS3URL(), "us-east-1", "contract-" + BUCKETS.incrementAndGet(), MINIO.getUserName(),
                MINIO.getPassword(), 10_000)).verify(true);
    }
}
