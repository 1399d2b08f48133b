package dev.tidemark.storage.s3;

import dev.tidemark.storage.ObjectInfo;
import dev.tidemark.storage.ObjectNotFoundException;
import dev.tidemark.storage.ObjectStore;
import dev.tidemark.storage.ObjectWriter;
import io.minio.AbortMultipartUploadArgs;
import io.minio.BucketExistsArgs;
import io.minio.CompleteMultipartUploadArgs;
import io.minio.CreateMultipartUploadArgs;
import io.minio.GetObjectArgs;
import io.minio.ListObjectsArgs;
import io.minio.MakeBucketArgs;
import io.minio.MinioAsyncClient;
import io.minio.PutObjectArgs;
import io.minio.RemoveObjectArgs;
import io.minio.RemoveObjectsArgs;
import io.minio.Result;
import io.minio.StatObjectArgs;
import io.minio.StatObjectResponse;
import io.minio.UploadPartArgs;
import io.minio.errors.ErrorResponseException;
import io.minio.errors.ServerException;
import io.minio.messages.DeleteRequest;
import io.minio.messages.DeleteResult;
import io.minio.messages.Item;
import io.minio.messages.Part;
import okhttp3.ConnectionPool;
import okhttp3.OkHttpClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * An object store in an S3-compatible bucket, through the MinIO Java SDK. Writes of unknown length become multipart
 * uploads whose part size grows so that an object fits the store's part-count limit; every request is retried with
 * exponential backoff and full jitter on throttling, 5xx and timeouts, bounded in attempts and time; an abandoned
 * multipart upload is aborted; a read that breaks mid-way resumes from where it stopped.
 */
public final class S3ObjectStore implements ObjectStore {
    private static final Logger LOG = LoggerFactory.getLogger(S3ObjectStore.class);
    private static final Set<String> RETRYABLE_CODES = Set.of("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
            "Throttling", "ThrottlingException", "RequestTimeTooSkewed", "OperationAborted");
    private static final long MAX_PART = 512L * 1024 * 1024;
    /** How long an idle connection is kept for reuse: less than S3 servers keep one open. */
    static final Duration IDLE_CONNECTION_KEEP_ALIVE = Duration.ofSeconds(20);

    private final S3Settings settings;
    private final MinioAsyncClient client;

    public S3ObjectStore(S3Settings settings) {
        this.settings = settings;
        OkHttpClient http = new OkHttpClient.Builder()
                .connectTimeout(Duration.ofSeconds(10))
                .readTimeout(Duration.ofMinutes(2))
                .writeTimeout(Duration.ofMinutes(2))
                // S3 servers, and proxies before them, close a connection idle for a while (often 30 s, some sooner), and
                // OkHttp reuses a pooled connection for a GET unchecked ("unexpected end of stream" at the start of a
                // restore): idle ones go after 20 s, and a request that meets one closed all the same is sent again at
                // once on a new connection (every body here is a byte array), neither a retry of the budget below nor a
                // warning in the log
                .connectionPool(new ConnectionPool(5, IDLE_CONNECTION_KEEP_ALIVE.toSeconds(), TimeUnit.SECONDS))
                .retryOnConnectionFailure(true)
                .build();
        MinioAsyncClient.Builder builder = MinioAsyncClient.builder().endpoint(settings.endpoint()).httpClient(http, true);
        if (settings.region() != null && !settings.region().isBlank()) {
            builder.region(settings.region());
        }
        if (settings.accessKey() != null) {
            builder.credentials(settings.accessKey(), settings.secretKey());
        }
        this.client = builder.build();
    }

    /** Checks that the bucket exists (creating it when asked), so a wrong endpoint, bucket or key fails at start, not at the first backup. */
    public S3ObjectStore verify(boolean createBucket) throws IOException {
        boolean exists = call("check", "bucket " + settings.bucket(), () -> client.bucketExists(BucketExistsArgs.builder().bucket(settings.bucket()).build()));
        if (!exists) {
            if (!createBucket) {
                throw new IOException("bucket '" + settings.bucket() + "' does not exist at " + settings.endpoint()
                        + ": create it, or correct the repository URI");
            }
            call("create bucket", "", () -> client.makeBucket(MakeBucketArgs.builder().bucket(settings.bucket()).build()));
        }
        return this;
    }

    public S3Settings settings() {
        return settings;
    }

    @Override
    public ObjectWriter create(String key) {
        checkKey(key);
        return new MultipartWriter(key);
    }

    @Override
    public InputStream get(String key) throws IOException {
        checkKey(key);
        return new ResumingInputStream(key, 0, Long.MAX_VALUE);
    }

    @Override
    public InputStream get(String key, long offset, long length) throws IOException {
        checkKey(key);
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("offset and length must not be negative");
        }
        if (length == 0) {
            stat(key).orElseThrow(() -> new ObjectNotFoundException(describe(), key));
            return InputStream.nullInputStream();
        }
        return new ResumingInputStream(key, offset, length);
    }

    @Override
    public Optional<ObjectInfo> stat(String key) throws IOException {
        checkKey(key);
        try {
            StatObjectResponse response = call("stat", key,
                    () -> client.statObject(StatObjectArgs.builder().bucket(settings.bucket()).object(key).build()));
            return Optional.of(new ObjectInfo(key, response.size(), response.lastModified().toInstant()));
        } catch (ObjectNotFoundException e) {
            return Optional.empty();
        }
    }

    @Override
    public Stream<ObjectInfo> list(String prefix) {
        Iterable<Result<Item>> results = client.listObjects(ListObjectsArgs.builder().bucket(settings.bucket()).prefix(prefix)
                .recursive(true).build());
        Iterator<Result<Item>> source = results.iterator();
        Iterator<ObjectInfo> mapped = new Iterator<>() {
            @Override
            public boolean hasNext() {
                return source.hasNext();
            }

            @Override
            public ObjectInfo next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                try {
                    Item item = source.next().get();
                    Instant modified = item.lastModified() == null ? Instant.EPOCH : item.lastModified().toInstant();
                    return new ObjectInfo(item.objectName(), item.size(), modified);
                } catch (Exception e) {
                    throw new UncheckedIOException(failure("list", prefix, e));
                }
            }
        };
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(mapped, Spliterator.ORDERED | Spliterator.NONNULL), false);
    }

    @Override
    public void delete(String key) throws IOException {
        checkKey(key);
        call("delete", key, () -> client.removeObject(RemoveObjectArgs.builder().bucket(settings.bucket()).object(key).build()));
    }

    /** Deletes in batches of 1,000 keys, one request each. */
    @Override
    public void deleteAll(Collection<String> keys) throws IOException {
        List<String> all = new ArrayList<>(keys);
        for (int from = 0; from < all.size(); from += 1000) {
            List<DeleteRequest.Object> batch = all.subList(from, Math.min(all.size(), from + 1000)).stream()
                    .map(DeleteRequest.Object::new).toList();
            String first = all.get(from);
            call("delete batch", first, () -> {
                List<String> errors = new ArrayList<>();
                for (Result<DeleteResult.Error> result : client.removeObjects(RemoveObjectsArgs.builder().bucket(settings.bucket())
                        .objects(batch).build())) {
                    DeleteResult.Error error = result.get();
                    if (!"NoSuchKey".equals(error.code())) {
                        errors.add(error.objectName() + ": " + error.code() + " " + error.message());
                    }
                }
                if (!errors.isEmpty()) {
                    throw new IOException("S3 refused to delete " + errors.size() + " objects, e.g. " + errors.get(0));
                }
                return CompletableFuture.completedFuture(null);
            });
        }
    }

    @Override
    public String describe() {
        return "s3://" + settings.bucket() + " at " + settings.endpoint();
    }

    @Override
    public void close() throws IOException {
        try {
            client.close();
        } catch (Exception e) {
            throw new IOException("closing the S3 client failed: " + e.getMessage(), e);
        }
    }

    private static void checkKey(String key) {
        if (key == null || key.isEmpty() || key.startsWith("/") || key.length() > 1024) {
            throw new IllegalArgumentException("invalid object key '" + key + "'");
        }
    }

    @FunctionalInterface
    private interface Request<T> {
        CompletableFuture<T> send() throws Exception;
    }

    /** Runs a request with bounded, jittered retries; a failure that retrying cannot fix is thrown at once. */
    private <T> T call(String what, String key, Request<T> request) throws IOException {
        long deadline = System.nanoTime() + settings.maxRetryTime().toNanos();
        for (int attempt = 1; ; attempt++) {
            try {
                return request.send().get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted during S3 " + what + " of " + key);
            } catch (Exception e) {
                Throwable cause = unwrap(e);
                if (isNotFound(cause)) {
                    throw new ObjectNotFoundException(describe(), key);
                }
                if (!retryable(cause) || attempt >= settings.maxAttempts()) {
                    throw failure(what, key, cause);
                }
                long delay = backoff(attempt);
                if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delay) > deadline) {
                    throw failure(what + " (gave up after " + attempt + " attempts, retry time exhausted)", key, cause);
                }
                LOG.warn("S3 {} of {} failed ({}); retry {} of {} in {} ms", what, key, reason(cause), attempt,
                        settings.maxAttempts() - 1, delay);
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted during S3 " + what + " of " + key);
                }
            }
        }
    }

    private long backoff(int attempt) {
        long cap = Math.min(30_000, settings.baseBackoff().toMillis() << Math.min(attempt, 16));
        return ThreadLocalRandom.current().nextLong(Math.max(1, cap / 2), Math.max(2, cap + 1));
    }

    private static Throwable unwrap(Throwable e) {
        Throwable current = e;
        while ((current instanceof ExecutionException || current instanceof CompletionException) && current.getCause() != null) {
            current = current.getCause();
        }
        return current;
    }

    private static boolean isNotFound(Throwable e) {
        return e instanceof ErrorResponseException r && ("NoSuchKey".equals(r.errorResponse().code())
                || "NoSuchObject".equals(r.errorResponse().code()) || (r.response() != null && r.response().code() == 404
                && !"NoSuchBucket".equals(r.errorResponse().code())));
    }

    static boolean retryable(Throwable e) {
        if (e instanceof ErrorResponseException r) {
            int status = r.response() == null ? 0 : r.response().code();
            return RETRYABLE_CODES.contains(r.errorResponse().code()) || status >= 500 || status == 429;
        }
        if (e instanceof ServerException s) {
            return s.statusCode() >= 500 || s.statusCode() == 429;
        }
        if (e instanceof ObjectNotFoundException) {
            return false;
        }
        return e instanceof IOException || (e.getCause() instanceof IOException);
    }

    private static String reason(Throwable e) {
        if (e instanceof ErrorResponseException r) {
            return r.errorResponse().code() + ": " + r.errorResponse().message();
        }
        if (e instanceof ServerException s) {
            return "HTTP " + s.statusCode();
        }
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }

    private IOException failure(String what, String key, Throwable e) {
        if (e instanceof IOException io && !(e.getClass().getName().startsWith("io.minio"))) {
            return new IOException("S3 " + what + " of " + key + " in " + describe() + " failed: " + reason(e), io);
        }
        String hint = "";
        if (e instanceof ErrorResponseException r) {
            String code = r.errorResponse().code();
            if ("AccessDenied".equals(code) || "InvalidAccessKeyId".equals(code) || "SignatureDoesNotMatch".equals(code)) {
                hint = "; check the access key and secret key of the repository";
            } else if ("NoSuchBucket".equals(code)) {
                hint = "; create the bucket or correct the repository URI";
            }
        }
        return new IOException("S3 " + what + " of " + key + " in " + describe() + " failed: " + reason(e) + hint, e);
    }

    /** Part n's size: doubling every tenth of the part budget, so any object up to ~1,000 first parts x budget fits. */
    long partSize(int partIndex) {
        int step = Math.max(1, settings.maxParts() / 10);
        long size = settings.firstPartBytes() << Math.min(20, partIndex / step);
        return Math.min(MAX_PART, size);
    }

    /** Buffers one part in memory; a small object is a single PUT, a large one a multipart upload. */
    private final class MultipartWriter extends ObjectWriter {
        private final String key;
        private final List<Part> parts = new ArrayList<>();
        private byte[] buffer;
        private int filled;
        private String uploadId;
        private long total;
        private boolean finished;

        MultipartWriter(String key) {
            this.key = key;
            this.buffer = new byte[(int) Math.min(partSize(0), 1024 * 1024)];
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (finished) {
                throw new IOException("write of " + key + " is already finished");
            }
            while (len > 0) {
                long limit = partSize(parts.size());
                if (filled == limit) {
                    uploadPart();
                    continue;
                }
                if (filled == buffer.length) {
                    buffer = java.util.Arrays.copyOf(buffer, (int) Math.min(limit, (long) buffer.length * 2));
                }
                int n = Math.min(len, buffer.length - filled);
                System.arraycopy(b, off, buffer, filled, n);
                filled += n;
                off += n;
                len -= n;
                total += n;
            }
        }

        private void uploadPart() throws IOException {
            if (parts.size() + 1 >= settings.maxParts()) {
                throw new IOException("object " + key + " exceeds the store's limit of " + settings.maxParts() + " parts");
            }
            if (uploadId == null) {
                uploadId = call("start multipart upload", key, () -> client.createMultipartUpload(CreateMultipartUploadArgs.builder()
                        .bucket(settings.bucket()).object(key).build())).result().uploadId();
            }
            int number = parts.size() + 1;
            byte[] data = buffer;
            int length = filled;
            Part part = call("upload part " + number, key, () -> client.uploadPart(UploadPartArgs.builder().bucket(settings.bucket())
                    .object(key).uploadId(uploadId).partNumber(number).data(data, length).build())).part();
            parts.add(new Part(number, part.etag()));
            filled = 0;
        }

        @Override
        public ObjectInfo commit() throws IOException {
            if (finished) {
                throw new IOException("write of " + key + " is already finished");
            }
            try {
                if (uploadId == null) {
                    byte[] data = buffer;
                    int length = filled;
                    call("put", key, () -> client.putObject(PutObjectArgs.builder().bucket(settings.bucket()).object(key)
                            .data(data, length).build()));
                } else {
                    if (filled > 0) {
                        uploadPart();
                    }
                    Part[] all = parts.toArray(new Part[0]);
                    call("complete multipart upload", key, () -> client.completeMultipartUpload(CompleteMultipartUploadArgs.builder()
                            .bucket(settings.bucket()).object(key).uploadId(uploadId).parts(all).build()));
                }
                finished = true;
                buffer = null;
                return new ObjectInfo(key, total, Instant.now());
            } catch (IOException | RuntimeException e) {
                abort();
                throw e;
            }
        }

        @Override
        public void abort() {
            if (finished) {
                return;
            }
            finished = true;
            buffer = null;
            if (uploadId != null) {
                try {
                    call("abort multipart upload", key, () -> client.abortMultipartUpload(AbortMultipartUploadArgs.builder()
                            .bucket(settings.bucket()).object(key).uploadId(uploadId).build()));
                } catch (IOException e) {
                    LOG.warn("could not abort multipart upload of {}: {}; a bucket lifecycle rule for incomplete uploads removes it",
                            key, e.getMessage());
                }
            }
        }
    }

    /** Reads an object and, when the connection breaks mid-way, reopens it at the next byte (within the retry budget). */
    private final class ResumingInputStream extends InputStream {
        private final String key;
        private long position;
        private long left;
        private InputStream current;
        private int resumes;

        ResumingInputStream(String key, long offset, long length) throws IOException {
            this.key = key;
            this.position = offset;
            this.left = length;
            this.current = open();
        }

        private InputStream open() throws IOException {
            GetObjectArgs.Builder args = GetObjectArgs.builder().bucket(settings.bucket()).object(key);
            if (position > 0 || left != Long.MAX_VALUE) {
                args.offset(position);
                if (left != Long.MAX_VALUE) {
                    args.length(left);
                }
            }
            GetObjectArgs built = args.build();
            try {
                return call("get", key, () -> client.getObject(built));
            } catch (IOException e) {
                if (e.getMessage() != null && e.getMessage().contains("InvalidRange")) {
                    return InputStream.nullInputStream();
                }
                throw e;
            }
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) {
                return -1;
            }
            while (true) {
                try {
                    int n = current.read(b, off, (int) Math.min(len, left));
                    if (n > 0) {
                        position += n;
                        left -= n;
                    }
                    return n;
                } catch (IOException e) {
                    if (e instanceof InterruptedIOException && Thread.currentThread().isInterrupted()) {
                        throw e;
                    }
                    if (++resumes > settings.maxAttempts()) {
                        throw new IOException("S3 get of " + key + " broke " + resumes + " times; giving up: " + e.getMessage(), e);
                    }
                    LOG.warn("S3 get of {} broke at byte {} ({}); resuming", key, position, e.getMessage());
                    closeQuietly();
                    current = open();
                }
            }
        }

        private void closeQuietly() {
            try {
                current.close();
            } catch (IOException ignored) {
                // the connection is already broken
            }
        }

        @Override
        public void close() throws IOException {
            current.close();
        }
    }
}
