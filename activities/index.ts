/**
 * Activities: the only code that touches the outside world (database, providers). Each group
 * is built by a factory from its dependencies, so tests and production differ only in what
 * they pass in.
 */
import type { Knex } from 'knex';
import { createHousekeepingActivities } from './housekeeping';

export interface ActivityDeps {
  knex: Knex;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createHousekeepingActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
