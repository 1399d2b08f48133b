/**
 * The engine facade: {@link dev.tidemark.engine.Engine} starts one node (catalog, repository, capabilities) from its
 * configuration ({@code config/}) and routes each operation of {@link dev.tidemark.engine.operations.Operations} to the
 * capability that owns it. May use every engine package; nothing in the engine uses it.
 */
package dev.tidemark.engine;
