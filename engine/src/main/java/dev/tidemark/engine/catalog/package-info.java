/**
 * The catalog: one Axon aggregate per protected database, its JDBC event store, the history folded from the events,
 * the read-model rows, the recovery window and restore plan (pure functions the aggregate decides with), Kafka
 * publication. May use postgres (values), operations (the event page) and catalog.api; never a capability or the node.
 */
package dev.tidemark.engine.catalog;
