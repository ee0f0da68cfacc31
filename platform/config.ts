/**
 * Every setting the platform reads, in one place, with its default. The README's configuration
 * table mirrors this file. Nothing else reads process.env for platform settings.
 */
import path from 'node:path';

export const projectRoot = path.resolve(__dirname, '..');

const env = process.env;

function int(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return value;
}

export const isProduction = env.NODE_ENV === 'production';

export const config = {
  isProduction,
  /** Folder for local state: embedded PostgreSQL, Temporal's SQLite file, generated secrets. */
  dataDir: path.resolve(env.SPIRIT_DATA_DIR || path.join(projectRoot, '.data')),
  port: int('PORT', 3000),
  host: env.HOST || '0.0.0.0',
  /** Public base URL used in links (payment pages, unsubscribe links). */
  publicUrl: env.PUBLIC_URL || `http://localhost:${int('PORT', 3000)}`,
  databaseUrl: env.DATABASE_URL || undefined,
  databasePoolMax: int('DATABASE_POOL_MAX', 10),
  /** Anonymous catalog reads are cached this long (0 turns it off). */
  catalogCacheMs: int('CATALOG_CACHE_MS', 1000),
  logLevel: env.LOG_LEVEL || (env.NODE_ENV === 'test' ? 'silent' : 'info'),
  jwt: {
    accessTtlSeconds: int('JWT_ACCESS_TTL_SECONDS', 15 * 60),
    refreshTtlSeconds: int('JWT_REFRESH_TTL_SECONDS', 30 * 24 * 3600),
  },
  bcryptRounds: int('BCRYPT_ROUNDS', 10),
  /** Compresses the booking calendar for demos and tests (0.001 = a day in 86 s); 1 in production. */
  bookingTimeScale: Number(env.BOOKING_TIME_SCALE || 1),
  supplier: {
    latencyMs: int('SUPPLIER_LATENCY_MS', 0),
    failureRate: Number(env.SUPPLIER_FAILURE_RATE || 0),
  },
  stripe: {
    secretKey: env.STRIPE_SECRET_KEY || undefined,
    webhookSecret: env.STRIPE_WEBHOOK_SECRET || undefined,
    apiBase: env.STRIPE_API_BASE || undefined,
  },
  /** Comma-separated task queues this worker process polls; empty = all of them. */
  workerTaskQueues: (env.WORKER_TASK_QUEUES || '').split(',').map((s) => s.trim()).filter(Boolean),
};

export type Config = typeof config;
