/**
 * The version of the live execution events (execution-events.ts), in a module of its own: the engine stamps its
 * events with it without loading their schemas (`@deepforge/protocol/engine`). Bump it on any change an older
 * peer would misread (see execution-events.ts).
 */
export const EXECUTION_EVENTS_VERSION = 2;
