/**
 * The engine's boundary for the REST API and the CLI: {@link dev.tidemark.engine.operations.Operations}, the request and
 * view records (their JSON shape is the API) and the exceptions mapped to HTTP statuses. Uses no other engine package.
 */
package dev.tidemark.engine.operations;
