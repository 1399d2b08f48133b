/**
 * Everything that talks to a protected PostgreSQL: {@link dev.tidemark.engine.postgres.ServerQueries} holds every
 * statement sent to a protected server (and to a server a restore started), one method per question; connections and
 * the one lookup of their credentials ({@link dev.tidemark.engine.postgres.Credentials}), binaries, servers started by
 * restores, LSNs and segment names, identity checks. May use operations (server stats); no capability.
 */
package dev.tidemark.engine.postgres;
