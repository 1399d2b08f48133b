/**
 * The node layer every capability stands on: the job pool and the engine-stopping flag, ids, the progress of running
 * jobs, the read model the views list from, and the registry of event handlers and start hooks each capability fills.
 * Knows no capability: may use catalog, postgres, operations and storage only.
 */
package dev.tidemark.engine.node;
