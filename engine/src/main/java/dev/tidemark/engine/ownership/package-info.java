/**
 * Who streams and runs the jobs of each database when several nodes share a catalog (issue 20): the node layer's
 * {@code Leases} decide ownership; {@link dev.tidemark.engine.ownership.Takeover} acts on each gain and loss (records the
 * owner change, fails the previous owner's jobs as interrupted, ends a frozen owner's replication session, starts or
 * stops the stream). Uses the node layer, the catalog, postgres and what {@code wal} exposes.
 */
package dev.tidemark.engine.ownership;
