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
  /** bcrypt cost of new password hashes and of the dummy hash compared for unknown emails (hashed on libuv's thread pool). */
  bcryptRounds: int('BCRYPT_ROUNDS', 10),
  /** A payment request answers 202 "processing" when the saga takes longer than this (the retry with the same Idempotency-Key gets the result). */
  paymentAnswerWithinMs: int('PAYMENT_ANSWER_WITHIN_MS', 5000),
  passwords: {
    /** Shortest password accepted when one is set (login accepts any existing one). */
    minLength: int('PASSWORD_MIN_LENGTH', 10),
    /** How long a password reset link works. */
    resetTtlMinutes: int('PASSWORD_RESET_TTL_MINUTES', 30),
    /** The page the reset email links to, with ?token=...; it POSTs the token and a new password to /api/v1/auth/password-reset/confirm. */
    resetUrl: env.PASSWORD_RESET_URL || `${env.PUBLIC_URL || `http://localhost:${int('PORT', 3000)}`}/reset-password`,
  },
  /**
   * How long an API instance trusts its cached copy of a user's state (active, role, scope, session
   * epoch) when no change notification arrives: the backstop behind LISTEN user_sessions.
   */
  sessionCacheTtlMs: int('SESSION_CACHE_TTL_MS', 30_000),
  /** Counters shared by every API instance (PostgreSQL table rate_limits); 0 turns a limit off. */
  rateLimits: {
    loginFailuresPerAccountPerMinute: int('RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE', 10),
    loginFailuresPerAddressPerMinute: int('RATE_LIMIT_LOGIN_ADDRESS_PER_MINUTE', 20),
    /** Failed logins of an account after which each further failure is answered more slowly. */
    loginDelayAfterFailures: int('LOGIN_DELAY_AFTER_FAILURES', 3),
    loginDelayStepMs: int('LOGIN_DELAY_STEP_MS', 250),
    refreshPerAddressPerMinute: int('RATE_LIMIT_REFRESH_PER_MINUTE', 60),
    holdsPerUserPerMinute: int('RATE_LIMIT_HOLDS_PER_MINUTE', 30),
    promoTriesPerUserPerHour: int('RATE_LIMIT_PROMO_TRIES_PER_HOUR', 20),
    testSendsPerUserPerHour: int('RATE_LIMIT_TEST_SENDS_PER_HOUR', 30),
    passwordResetsPerAddressPerHour: int('RATE_LIMIT_PASSWORD_RESETS_PER_HOUR', 10),
  },
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
  email: {
    from: { email: env.EMAIL_FROM || 'hello@spirit-tours.test', name: env.EMAIL_FROM_NAME || 'Spirit Tours' },
    /** Messages per second a campaign sends at, unless it says otherwise. */
    defaultRatePerSecond: int('EMAIL_RATE_PER_SECOND', 5000),
    sendgridWebhookPublicKey: env.SENDGRID_WEBHOOK_PUBLIC_KEY || undefined,
    /** Recipients claimed per batch activity. */
    campaignBatchSize: int('CAMPAIGN_BATCH_SIZE', 1000),
    /** A claim older than this was in flight when its worker died: it becomes "unknown" (keep above the batch activity's timeout). */
    staleClaimSeconds: int('CAMPAIGN_STALE_CLAIM_SECONDS', 150),
  },
  /**
   * Workflows each Worker keeps in memory between tasks (the SDK's sticky cache). The SDK's default
   * grows with the heap limit (measured: 1.2-1.4 GB RSS with 5,000 bookings in flight); past this
   * many, the least recently used is evicted and replayed from history on its next task.
   * The platform queue (housekeeping) keeps at most 20.
   */
  workerMaxCachedWorkflows: int('WORKER_MAX_CACHED_WORKFLOWS', 250),
  /** When set, GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>` (for an API reachable from outside). */
  metricsToken: env.METRICS_TOKEN || undefined,
  /** Comma-separated task queues this worker process polls; empty = all of them. */
  workerTaskQueues: (env.WORKER_TASK_QUEUES || '').split(',').map((s) => s.trim()).filter(Boolean),
};

export type Config = typeof config;
