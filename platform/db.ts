/**
 * The PostgreSQL connection: one knex pool per process, bound to Objection's models.
 * Migrations live in /migrations and run through `migrateLatest`.
 */
import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { Model } from 'objection';
import pg from 'pg';
import { config, hardening, projectRoot } from './config';

// int8 (bigint, count(*)) as JS numbers: money in minor units stays far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
// `date` columns as plain 'YYYY-MM-DD' strings, never shifted by the process timezone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);

/**
 * Migrations are recorded by name without extension, so a database migrated from the
 * TypeScript sources (development) is the same to the compiled image (production, .js).
 */
const MIGRATIONS_DIR = path.join(projectRoot, 'migrations');
const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    const ext = path.extname(__filename); // .ts under tsx, .js when compiled
    return fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts')).map((f) => f.slice(0, -ext.length)).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    return require(path.join(MIGRATIONS_DIR, name)) as Knex.Migration;
  },
};

/**
 * `statementTimeoutMs`: PostgreSQL cancels any statement running longer (error 57014), so a
 * runaway query cannot hold a pooled connection and its locks for ever. The process-wide pool
 * (API, workers) sets DATABASE_STATEMENT_TIMEOUT_MS; migrations and scripts run without one.
 */
export function createKnex(databaseUrl: string, poolMax = config.databasePoolMax, options: { statementTimeoutMs?: number } = {}): Knex {
  return knexFactory({
    client: 'pg',
    connection: options.statementTimeoutMs ? { connectionString: databaseUrl, statement_timeout: options.statementTimeoutMs } : databaseUrl,
    pool: { min: 0, max: poolMax },
    migrations: { migrationSource, tableName: 'knex_migrations' },
  });
}

let shared: Knex | undefined;

/** The process-wide pool, bound to Objection (statement timeout: the API's unless told). */
export function connectDatabase(databaseUrl: string, options: { statementTimeoutMs?: number } = {}): Knex {
  if (shared) return shared;
  shared = createKnex(databaseUrl, config.databasePoolMax, { statementTimeoutMs: options.statementTimeoutMs ?? hardening.statementTimeoutMs });
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
