/** Objection models: a table, its relations, and the queries that belong to it. */
export * from './audit';
export * from './branch';
export * from './partner';
export * from './tour';
export * from './user';
