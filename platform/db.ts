/**
 * The PostgreSQL connection: one knex pool per process, bound to Objection's models.
 * Migrations live in /migrations and run through `migrateLatest`.
 */
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { Model } from 'objection';
import pg from 'pg';
import { config, projectRoot } from './config';

// int8 (bigint, count(*)) as JS numbers: money in minor units stays far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
// `date` columns as plain 'YYYY-MM-DD' strings, never shifted by the process timezone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);

export function createKnex(databaseUrl: string, poolMax = config.databasePoolMax): Knex {
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    pool: { min: 0, max: poolMax },
    migrations: {
      directory: path.join(projectRoot, 'migrations'),
      loadExtensions: [path.extname(__filename)],
      tableName: 'knex_migrations',
    },
  });
}

let shared: Knex | undefined;

/** The process-wide pool, bound to Objection. */
export function connectDatabase(databaseUrl: string): Knex {
  if (shared) return shared;
  shared = createKnex(databaseUrl);
  Model.knex(shared);
  return shared;
}

export async function closeDatabase(): Promise<void> {
  if (shared) {
    const k = shared;
    shared = undefined;
    await k.destroy();
  }
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}
