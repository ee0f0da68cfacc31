/**
 * Every workflow the workers run. Workflow code is deterministic: no I/O, clocks or randomness
 * outside the workflow API, and only types from activities; everything external goes through
 * activities, timers through the workflow API.
 */
export * from './booking';
export * from './automation';
export * from './campaign';
export * from './housekeeping';
export * from './message-dispatch';
export * from './agent-run';
export * from './conversation';
