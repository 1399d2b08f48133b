/**
 * The CLI's client commands: one file per top-level command ({@code db}, {@code backup} with {@code backup download}
 * beside it, {@code restore}, {@code window}, {@code events}, {@code read-model}, {@code key}, {@code token}), on a shared
 * base ({@link dev.tidemark.api.cli.ClientCommand}: connection options, output) with the REST client
 * ({@link dev.tidemark.api.cli.ApiClient}), tables ({@link dev.tidemark.api.cli.Table}) and progress
 * ({@link dev.tidemark.api.cli.Progress}).
 * <p>
 * A command talks to the engine only through the REST API, by {@code ApiClient}; it never uses the engine's classes.
 * Besides picocli and Jackson it may use the server's header-name constants ({@code DatabasesController}) and, for the
 * commands that need no server, {@code Tokens} (token create) and the storage module's {@code MasterKey} (key generate).
 * {@code serve}, {@code quickstart} and the hidden {@code warm-up} live outside this package.
 */
package dev.tidemark.api.cli;
