/**
 * The catalog's messages: commands, events (a sealed family), and the values they carry (policy and its schedules,
 * dump archives, WAL cuts). May use postgres values only.
 */
package dev.tidemark.engine.catalog.api;
