package dev.tidemark.engine.catalog;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.tidemark.engine.catalog.api.Commands;
import dev.tidemark.engine.catalog.api.DatabaseEvent;
import dev.tidemark.engine.operations.EventPage;
import dev.tidemark.storage.layout.InvalidIdentifierException;
import org.axonframework.commandhandling.CommandExecutionException;
import org.axonframework.commandhandling.GenericCommandMessage;
import org.axonframework.commandhandling.gateway.CommandGateway;
import org.axonframework.common.stream.BlockingStream;
import org.axonframework.config.AggregateConfigurer;
import org.axonframework.config.Configuration;
import org.axonframework.config.Configurer;
import org.axonframework.config.DefaultConfigurer;
import org.axonframework.eventhandling.DomainEventMessage;
import org.axonframework.eventhandling.PropagatingErrorHandler;
import org.axonframework.eventhandling.TrackedEventMessage;
import org.axonframework.eventhandling.TrackingEventProcessor;
import org.axonframework.eventhandling.TrackingEventProcessorConfiguration;
import org.axonframework.eventhandling.TrackingToken;
import org.axonframework.eventhandling.tokenstore.inmemory.InMemoryTokenStore;
import org.axonframework.eventhandling.tokenstore.jdbc.JdbcTokenStore;
import org.axonframework.eventhandling.tokenstore.jdbc.PostgresTokenTableFactory;
import org.axonframework.eventsourcing.EventCountSnapshotTriggerDefinition;
import org.axonframework.eventsourcing.eventstore.DomainEventStream;
import org.axonframework.eventsourcing.eventstore.EventStore;
import org.axonframework.eventsourcing.eventstore.jdbc.JdbcEventStorageEngine;
import org.axonframework.eventsourcing.eventstore.jdbc.PostgresEventTableFactory;
import org.axonframework.eventsourcing.eventstore.jpa.SQLStateResolver;
import org.axonframework.messaging.correlation.MessageOriginProvider;
import org.axonframework.messaging.correlation.SimpleCorrelationDataProvider;
import org.axonframework.modelling.command.AggregateNotFoundException;
import org.axonframework.modelling.command.ConcurrencyException;
import org.axonframework.serialization.json.JacksonSerializer;
import org.h2.jdbcx.JdbcConnectionPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The catalog: the event-sourced aggregates of the protected databases (Axon Framework, JDBC event store on an
 * embedded H2 file or a shared PostgreSQL), the read model, and publication to Kafka. The one door the engine uses.
 */
public final class Catalog implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Catalog.class);
    private static final int SNAPSHOT_EVERY = 200;
    /** Events the read-model processor handles per transaction (a replay of 100,000 events takes seconds, not minutes). */
    private static final int ROWS_BATCH = 100;

    private volatile String refusingCommands; // set once the engine's repository was taken over by another catalog
    private final Configuration axon;
    private final CatalogView view;
    private final CatalogRows rows;
    private final DataSource dataSource;
    private final ObjectMapper json;
    private final Clock clock;
    private final KafkaPublisher publisher;
    private final AutoCloseable connections;
    // issue 18: the repository mirror of the events, and the import of recovered ones
    private JdbcEventStorageEngine storage;
    private JdbcTokenStore tokens;
    private JdbcTransactions transactions;
    private volatile dev.tidemark.engine.catalog.mirror.EventMirror mirror;

    private Catalog(Configuration axon, CatalogView view, CatalogRows rows, DataSource dataSource, ObjectMapper json, Clock clock, KafkaPublisher publisher,
                    AutoCloseable connections) {
        this.axon = axon;
        this.view = view;
        this.rows = rows;
        this.dataSource = dataSource;
        this.json = json;
        this.clock = clock;
        this.publisher = publisher;
        this.connections = connections;
    }

    /** The JSON mapper of events, snapshots and Kafka messages. */
    public static ObjectMapper json() {
        return new ObjectMapper().registerModule(new JavaTimeModule())
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .disable(SerializationFeature.WRITE_DURATIONS_AS_TIMESTAMPS)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    }

    /**
     * The embedded catalog's directory, its owner's alone (0700, from creation on; one made earlier with a wider mode is
     * narrowed): the catalog holds the history of every database, and H2 creates its files with the process's umask.
     */
    private static void privateDirectory(Path directory) throws IOException {
        java.util.Set<java.nio.file.attribute.PosixFilePermission> owner = java.nio.file.attribute.PosixFilePermissions.fromString("rwx------");
        Files.createDirectories(directory, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(owner));
        if (!Files.getPosixFilePermissions(directory).equals(owner)) {
            Files.setPosixFilePermissions(directory, owner);
        }
    }

    public static Catalog open(CatalogSettings settings) {
        boolean embedded = settings.jdbcUrl() == null || settings.jdbcUrl().isBlank();
        AutoCloseable closeable;
        DataSource dataSource;
        if (embedded) {
            try {
                privateDirectory(settings.embeddedDirectory());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create the catalog directory " + settings.embeddedDirectory(), e);
            }
            // WRITE_DELAY=0: each commit is written before the command returns (H2's default delays it by 500 ms);
            // PostgreSQL mode: one dialect (tables, types) for the embedded and the shared catalog
            // retry: a thread interrupted during a write (a WAL stream being stopped while it records) closes an NIO file
            // for every thread, which kills the whole database ("The database has been closed"); H2's retry file
            // system reopens it instead
            JdbcConnectionPool pool = JdbcConnectionPool.create("jdbc:h2:retry:" + settings.embeddedDirectory().resolve("catalog").toAbsolutePath()
                    + ";WRITE_DELAY=0;LOCK_TIMEOUT=10000;MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH"
                    // closed by close(), after the event processors stopped, not by H2's own hook at JVM exit under them
                    + ";DB_CLOSE_ON_EXIT=FALSE", "tidemark", "");
            pool.setMaxConnections(16);
            dataSource = pool;
            closeable = pool::dispose;
        } else {
            if (!settings.jdbcUrl().startsWith("jdbc:postgresql:")) {
                throw new IllegalArgumentException("catalog JDBC URL '" + dev.tidemark.engine.postgres.PgConnections.redact(settings.jdbcUrl()) + "' is not a jdbc:postgresql:// URL;"
                        + " leave it empty for the embedded catalog");
            }
            // a pool: every command, processor batch and token claim is a transaction, and a fresh PostgreSQL session
            // for each (a backend forked, authenticated) made a command cost tens of milliseconds
            HikariConfig hikari = new HikariConfig();
            hikari.setJdbcUrl(settings.jdbcUrl());
            if (settings.user() != null) {
                hikari.setUsername(settings.user());
            }
            if (settings.password() != null) {
                hikari.setPassword(settings.password());
            }
            hikari.setPoolName("tidemark-catalog");
            hikari.setMaximumPoolSize(16);
            hikari.setMinimumIdle(2);
            hikari.setInitializationFailTimeout(-1); // unreachable at start: the schema check below says so clearly
            hikari.setConnectionTimeout(10_000);
            HikariDataSource pg = new HikariDataSource(hikari);
            closeable = pg;
            dataSource = pg;
        }
        ObjectMapper json = json();
        JacksonSerializer serializer = JacksonSerializer.builder().objectMapper(json).build();
        JdbcTransactions transactions = new JdbcTransactions(dataSource);
        JdbcEventStorageEngine storage = JdbcEventStorageEngine.builder()
                .connectionProvider(transactions)
                .transactionManager(transactions)
                .eventSerializer(serializer)
                .snapshotSerializer(serializer)
                .persistenceExceptionResolver(new SQLStateResolver())
                .dataType(byte[].class)
                .build();
        try (SchemaLock lock = SchemaLock.acquire(dataSource)) { // nodes starting at once on an empty catalog
            createSchema(dataSource, embedded, storage, transactions);
            try (Connection c = dataSource.getConnection()) {
                CatalogRows.createTables(c);
            } catch (SQLException e) {
                throw new IllegalStateException("cannot create the read-model tables: " + e.getMessage(), e);
            }
        }
        // the embedded catalog has one node: a claim left by a killed process is its own and taken back at once;
        // nodes sharing a PostgreSQL catalog each claim under their own name (a dead node's claim times out)
        String owner = embedded ? "embedded-catalog"
                : java.lang.management.ManagementFactory.getRuntimeMXBean().getName() + "/" + java.util.UUID.randomUUID();
        JdbcTokenStore tokens = JdbcTokenStore.builder().connectionProvider(transactions).serializer(serializer).nodeId(owner).build();
        CatalogRows rows = new CatalogRows(transactions, json, id -> stored(storage, id));

        CatalogView view = new CatalogView();
        TrackingToken head = storage.createHeadToken(); // before the replay at start: what follows it is read by the sync processor
        KafkaPublisher publisher = settings.kafkaBootstrap() == null || settings.kafkaBootstrap().isBlank() ? null
                : new KafkaPublisher(settings.kafkaBootstrap(), settings.kafkaTopic(), json);
        Configurer configurer = DefaultConfigurer.defaultConfiguration(false)
                .configureSerializer(c -> serializer)
                .configureEventSerializer(c -> serializer)
                .configureMessageSerializer(c -> serializer)
                .configureTransactionManager(c -> transactions)
                .configureEmbeddedEventStore(c -> storage)
                .configureCorrelationDataProviders(c -> List.of(new MessageOriginProvider(), new SimpleCorrelationDataProvider("actor")))
                .configureAggregate(AggregateConfigurer.defaultConfiguration(ProtectedDatabase.class)
                        .configureSnapshotTrigger(c -> new EventCountSnapshotTriggerDefinition(c.snapshotter(), SNAPSHOT_EVERY)));
        configurer.eventProcessing(ep -> {
            ep.registerTokenStore(c -> tokens);
            ep.registerSubscribingEventProcessor(CatalogView.GROUP);
            ep.registerEventHandler(c -> view);
            ep.registerTrackingEventProcessor(CatalogSync.GROUP, Configuration::eventStore, c -> TrackingEventProcessorConfiguration
                    .forSingleThreadedProcessing().andInitialTrackingToken(source -> head));
            ep.registerTokenStore(CatalogSync.GROUP, c -> new InMemoryTokenStore());
            ep.registerEventHandler(c -> new CatalogSync(view));
            ep.registerTrackingEventProcessor(CatalogRows.GROUP, Configuration::eventStore, c -> TrackingEventProcessorConfiguration
                    .forSingleThreadedProcessing().andBatchSize(ROWS_BATCH));
            ep.registerEventHandler(c -> rows);
            if (publisher != null) {
                ep.registerTrackingEventProcessor(KafkaPublisher.GROUP);
                ep.registerEventHandler(c -> publisher);
                ep.registerListenerInvocationErrorHandler(KafkaPublisher.GROUP, c -> PropagatingErrorHandler.instance());
            }
        });
        Configuration axon = configurer.buildConfiguration();
        axon.start();
        Catalog catalog = new Catalog(axon, view, rows, dataSource, json, settings.clock(), publisher, closeable);
        catalog.storage = storage; // issue 18
        catalog.tokens = tokens;
        catalog.transactions = transactions;
        view.readFrom(id -> stored(storage, id));
        catalog.replayAll();
        view.markAllTold();
        LOG.info("catalog open: {} ({} databases){}", embedded ? "embedded at " + settings.embeddedDirectory()
                        : dev.tidemark.engine.postgres.PgConnections.redact(settings.jdbcUrl()),
                view.databases().size(), publisher == null ? "" : ", publishing to Kafka " + settings.kafkaBootstrap());
        return catalog;
    }

    private static void createSchema(DataSource dataSource, boolean embedded, JdbcEventStorageEngine storage, JdbcTransactions tx) {
        try (Connection c = dataSource.getConnection()) {
            boolean exists;
            try (ResultSet r = c.getMetaData().getTables(null, null, "domainevententry", null)) {
                exists = r.next();
            }
            if (exists) {
                return;
            }
        } catch (SQLException e) {
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause(); // the pool's timeout wraps what the driver said
            }
            throw new IllegalStateException("the catalog database cannot be reached: " + cause.getMessage(), e);
        }
        storage.createSchema(PostgresEventTableFactory.INSTANCE);
        JdbcTokenStore.builder().connectionProvider(tx).serializer(JacksonSerializer.defaultSerializer()).build()
                .createSchema(PostgresTokenTableFactory.INSTANCE);
    }

    private void replayAll() {
        try (BlockingStream<TrackedEventMessage<?>> stream = axon.eventStore().openStream(null)) {
            while (stream.hasNextAvailable()) {
                TrackedEventMessage<?> message = stream.nextAvailable();
                if (message instanceof DomainEventMessage<?> domain && domain.getPayload() instanceof DatabaseEvent event) {
                    view.replay(event, domain.getSequenceNumber());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while loading the catalog");
        }
    }

    private static List<CatalogEvent> stored(JdbcEventStorageEngine storage, String databaseId) {
        List<CatalogEvent> events = new ArrayList<>();
        DomainEventStream stream = storage.readEvents(databaseId, 0); // every event, not the snapshot
        while (stream.hasNext()) {
            DomainEventMessage<?> message = stream.next();
            if (message.getPayload() instanceof DatabaseEvent event) {
                Object actor = message.getMetaData().get("actor");
                events.add(new CatalogEvent(event, message.getSequenceNumber(), message.getTimestamp(),
                        actor == null ? null : actor.toString()));
            }
        }
        return events;
    }

    /** From now on every command is refused with this text, nothing recorded (the engine's repository was taken over). */
    public void refuseCommands(String refusal) {
        refusingCommands = refusal;
    }

    /**
     * Sends a command with the actor as metadata and waits for it. A refusal arrives as {@link CatalogRejection}
     * saying what was wrong; nothing changed then.
     */
    @SuppressWarnings("unchecked")
    public <R> R send(Object command, String actor) {
        String refusal = refusingCommands;
        if (refusal != null) {
            throw CatalogRejection.conflict(refusal);
        }
        CommandGateway gateway = axon.commandGateway();
        String databaseId = databaseIdOf(command);
        for (int attempt = 1; ; attempt++) {
            try {
                return (R) gateway.sendAndWait(GenericCommandMessage.asCommandMessage(command)
                        .andMetaData(Map.of("actor", actor == null ? "system" : actor)));
            } catch (RuntimeException e) {
                RuntimeException mapped = map(e, command, databaseId);
                // another node appended to the same database at the same moment: decide again on the newer state
                boolean raced = rootCause(e) instanceof ConcurrencyException && !(command instanceof Commands.RegisterDatabase);
                if (!raced || attempt == 3) {
                    throw mapped;
                }
            }
        }
    }

    private static Throwable rootCause(RuntimeException e) {
        Throwable cause = e;
        while (cause instanceof CommandExecutionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    private static RuntimeException map(RuntimeException e, Object command, String databaseId) {
        Throwable cause = rootCause(e);
        if (cause instanceof CatalogRejection rejection) {
            return rejection;
        }
        if (cause instanceof AggregateNotFoundException) {
            return CatalogRejection.notFound("database " + databaseId + " is not registered");
        }
        if (cause instanceof ConcurrencyException || cause.getClass().getSimpleName().equals("AggregateStreamCreationException")) {
            if (command instanceof Commands.RegisterDatabase) {
                return CatalogRejection.conflict("database " + databaseId + " is registered already (ids are never reused, "
                        + "also after deregistration)");
            }
            return CatalogRejection.conflict("database " + databaseId + " changed at the same moment; ask again");
        }
        if (cause instanceof InvalidIdentifierException || cause instanceof IllegalArgumentException) {
            return CatalogRejection.invalid(cause.getMessage());
        }
        return e;
    }

    private static String databaseIdOf(Object command) {
        try {
            return (String) command.getClass().getMethod("databaseId").invoke(command);
        } catch (ReflectiveOperationException e) {
            return null;
        }
    }

    public CatalogView view() {
        return view;
    }

    /** Heard after each event commits (work follows events). */
    public void subscribe(Consumer<CatalogEvent> listener) {
        view.subscribe(listener);
    }

    /** The audit log of one database: its events from a sequence number on. */
    public EventPage events(String databaseId, long fromSequence, int limit) {
        DomainEventStream stream = axon.eventStore().readEvents(databaseId, fromSequence);
        List<EventPage.Event> events = new ArrayList<>();
        long next = -1;
        while (stream.hasNext()) {
            DomainEventMessage<?> m = stream.next();
            if (events.size() == limit) {
                next = m.getSequenceNumber();
                break;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> payload = json.convertValue(m.getPayload(), Map.class);
            Object actor = m.getMetaData().get("actor");
            events.add(new EventPage.Event(m.getSequenceNumber(), m.getIdentifier(), m.getPayloadType().getSimpleName(), m.getTimestamp(),
                    actor == null ? null : actor.toString(), payload));
        }
        return new EventPage(events, next);
    }

    /** The catalog's database, where the scheduler keeps its job table. */
    public DataSource dataSource() {
        return dataSource;
    }

    public Clock clock() {
        return clock;
    }

    /** The persistent read model (rows kept by a tracking processor). */
    public CatalogRows rows() {
        return rows;
    }

    /**
     * Rebuilds the read model from the events: stops its processor, resets its token (which deletes the rows), and
     * replays every event. Returns when the rows are current again, or after the timeout (false).
     */
    public boolean rebuildRows(Duration timeout) {
        TrackingEventProcessor processor = axon.eventProcessingConfiguration()
                .eventProcessor(CatalogRows.GROUP, TrackingEventProcessor.class).orElseThrow();
        LOG.info("read model: rebuilding from the events");
        processor.shutDown();
        processor.resetTokens();
        processor.start();
        long deadline = System.nanoTime() + timeout.toNanos();
        for (DatabaseHistory h : view.databases()) {
            Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
            if (!rows.awaitVersion(h.id(), h.version(), left)) {
                return false;
            }
        }
        LOG.info("read model: rebuilt ({} databases)", view.databases().size());
        return true;
    }

    EventStore eventStore() {
        return axon.eventStore();
    }

    // issue 18 (repository mirror and catalog recovery) from here to close()

    /** Starts writing every event into the repository (see EventMirror), a few seconds behind the commands. */
    public void mirrorTo(dev.tidemark.storage.Repository repository, Duration interval) {
        mirror = new dev.tidemark.engine.catalog.mirror.EventMirror(storage, tokens, transactions, repository, json,
                interval);
    }

    /** Writes what the repository does not hold yet of the events, now; false when it could not (or another node mirrors). */
    public boolean flushMirror() {
        return mirror != null && mirror.catchUp();
    }

    /** The number of events the store holds of a database (its next sequence number). */
    public long eventCount(String databaseId) {
        return storage.lastSequenceNumberFor(databaseId).map(n -> n + 1).orElse(0L);
    }

    /**
     * Appends recovered events as they were (ids, sequence numbers, timestamps, metadata) in one transaction; those the store
     * holds already are skipped, so an import interrupted and run again gives the same store. Returns how many were added.
     * The catalog's views do not see them: reopen the catalog.
     */
    public int importEvents(String databaseId, List<? extends DomainEventMessage<?>> events) {
        long next = eventCount(databaseId);
        List<? extends DomainEventMessage<?>> missing = events.stream().filter(e -> e.getSequenceNumber() >= next).toList();
        if (!missing.isEmpty()) {
            transactions.executeInTransaction(() -> storage.appendEvents(missing));
        }
        return missing.size();
    }

    @Override
    public void close() {
        if (mirror != null) {
            mirror.close(); // issue 18: what is left is written before the store closes
        }
        axon.shutdown();
        if (publisher != null) {
            publisher.close();
        }
        if (connections != null) {
            try {
                connections.close();
            } catch (Exception e) {
                LOG.warn("closing the catalog's connections: {}", e.getMessage());
            }
        }
    }
}
