/**
 * Every workflow the workers run. Workflow code is deterministic: no I/O, clocks, randomness
 * or imports of activity implementations (types only); everything external goes through
 * activities, timers through the workflow API.
 */
export * from './housekeeping';
