/**
 * What a node is started with: {@link dev.tidemark.engine.config.EngineConfig} (everything the engine needs, secrets
 * included, which it never logs nor puts in an event) and {@link dev.tidemark.engine.config.RepositoryFactory} (the
 * repository the configuration names, with its codec and master key). Uses storage, and postgres to redact URLs; the root
 * facade and the api module use it.
 */
package dev.tidemark.engine.config;
