package dev.tidemark.storage.s3;

import java.time.Duration;

/**
 * Where and how to reach an S3-compatible bucket. The secret key is never printed: toString leaves it out.
 *
 * @param endpoint       e.g. "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:9000"
 * @param maxParts       the store's multipart part-count limit (AWS 10,000; some S3-compatible stores 1,000)
 * @param firstPartBytes size of the first parts; parts grow so that any object fits in maxParts
 * @param maxAttempts    attempts of one request before giving up (throttling, 5xx, timeouts)
 * @param maxRetryTime   time budget of the retries of one request
 */
public record S3Settings(String endpoint, String region, String bucket, String accessKey, String secretKey, int maxParts,
                         long firstPartBytes, int maxAttempts, Duration maxRetryTime, Duration baseBackoff) {
    public static final long MIN_PART = 5L * 1024 * 1024;

    public S3Settings {
        if (endpoint == null || endpoint.isBlank()) {
            throw new IllegalArgumentException("an S3 repository needs an endpoint, e.g. https://s3.eu-west-1.amazonaws.com");
        }
        if (bucket == null || !bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
            throw new IllegalArgumentException("'" + bucket + "' is not a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')");
        }
        if (maxParts < 2 || maxParts > 10_000) {
            throw new IllegalArgumentException("max parts must be between 2 and 10000, not " + maxParts);
        }
        if (firstPartBytes < MIN_PART) {
            throw new IllegalArgumentException("parts must be at least 5 MiB (S3's minimum), not " + firstPartBytes + " bytes");
        }
    }

    /** Defaults: 8 MiB first parts, 8 attempts within 5 minutes, 200 ms base backoff. */
    public static S3Settings of(String endpoint, String region, String bucket, String accessKey, String secretKey, int maxParts) {
        return new S3Settings(endpoint, region, bucket, accessKey, secretKey, maxParts, 8L * 1024 * 1024, 8,
                Duration.ofMinutes(5), Duration.ofMillis(200));
    }

    public S3Settings withRetries(int attempts, Duration budget, Duration base) {
        return new S3Settings(endpoint, region, bucket, accessKey, secretKey, maxParts, firstPartBytes, attempts, budget, base);
    }

    public S3Settings withFirstPartBytes(long bytes) {
        return new S3Settings(endpoint, region, bucket, accessKey, secretKey, maxParts, bytes, maxAttempts, maxRetryTime, baseBackoff);
    }

    @Override
    public String toString() {
        return "S3Settings[endpoint=" + endpoint + ", region=" + region + ", bucket=" + bucket + ", maxParts=" + maxParts + "]";
    }
}
