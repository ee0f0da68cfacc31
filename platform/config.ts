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
    /** Inbound chat messages (POST /api/v1/conversations/inbound, public) per address and per sender handle. */
    inboundMessagesPerAddressPerMinute: int('RATE_LIMIT_INBOUND_ADDRESS_PER_MINUTE', 60),
    inboundMessagesPerSenderPerMinute: int('RATE_LIMIT_INBOUND_SENDER_PER_MINUTE', 20),
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
  /**
   * Agents' model mode: `<provider>:<model>` (e.g. openai:gpt-4o-mini); unset = core mode. The
   * provider's own settings (OPENAI_API_KEY, OPENAI_BASE_URL) are read with it by
   * agents/runtime/model.ts `chatModelFromConfig(env)`, at worker start.
   */
  agentModel: env.AGENT_MODEL || undefined,
  /** Comma-separated task queues this worker process polls; empty = all of them. */
  workerTaskQueues: (env.WORKER_TASK_QUEUES || '').split(',').map((s) => s.trim()).filter(Boolean),
  whatsapp: {
    /**
     * simulator (development default: a local HTTP endpoint and `npm run chat`), cloud (Meta's
     * Cloud API) or web (whatsapp-web.js, unofficial). Production refuses the simulator unless
     * WHATSAPP_SIMULATOR_IN_PRODUCTION=1 says it is wanted.
     */
    channel: ((env.WHATSAPP_CHANNEL || 'simulator').trim().toLowerCase()) as 'simulator' | 'cloud' | 'web',
    /** Meta's handshake: GET /api/v1/webhooks/whatsapp answers hub.challenge when hub.verify_token equals this. */
    verifyToken: env.WHATSAPP_VERIFY_TOKEN || undefined,
    /** Signs webhook deliveries (X-Hub-Signature-256: HMAC-SHA256 of the raw body). */
    appSecret: env.WHATSAPP_APP_SECRET || undefined,
    accessToken: env.WHATSAPP_ACCESS_TOKEN || undefined,
    /** The business number's id at Meta (the Cloud API sends from it); the simulator's business id otherwise. */
    phoneNumberId: env.WHATSAPP_PHONE_NUMBER_ID || 'simulator',
    /** Graph API host; tests and checks point it at a local server. */
    graphApiBase: (env.WHATSAPP_GRAPH_API_BASE || 'https://graph.facebook.com').replace(/\/+$/, ''),
    graphApiVersion: env.WHATSAPP_GRAPH_API_VERSION || 'v21.0',
    /** Messages per second per business number (Meta's default throughput is 80). */
    messagesPerSecond: int('WHATSAPP_MESSAGES_PER_SECOND', 80),
    /** A Graph API call is given up (and its outcome is unknown) after this long. */
    sendTimeoutMs: int('WHATSAPP_SEND_TIMEOUT_MS', 10_000),
    /** whatsapp-web.js: the Chromium it drives (never downloaded). */
    chromiumPath: env.WHATSAPP_WEB_CHROMIUM_PATH || env.PUPPETEER_EXECUTABLE_PATH || '/usr/bin/chromium',
    /** Conversations with no message for this long are closed (the next message opens them again). */
    idleCloseMinutes: int('CONVERSATION_IDLE_CLOSE_MINUTES', 24 * 60),
    /** Outbound messages from other workflows wait outside these local hours of the customer (HH-HH, empty: none). */
    quietHours: env.WHATSAPP_QUIET_HOURS ?? '21-9',
    simulatorInProduction: env.WHATSAPP_SIMULATOR_IN_PRODUCTION === '1',
  },
  fraud: {
    /** FraudGuardian scores every payment attempt before authorization; `FRAUD_CHECK=off` skips it (bookings loaded after the change). */
    check: (env.FRAUD_CHECK || 'on') !== 'off',
    /** JSON overrides of the fraud rules (agents/fraud-guardian/core.ts DEFAULT_FRAUD_RULES), e.g. {"reviewAt":40,"velocity":{"maxPerCard":3}}; a branch's fraud_rules row overrides these. */
    rules: env.FRAUD_RULES || undefined,
    /** A small CIDR → country table, e.g. "203.0.113.0/24=AU,2001:db8::/32=DE" (no geo-IP database: unlisted addresses are unknown). */
    ipCountries: env.FRAUD_IP_COUNTRIES || undefined,
  },
};

// ---------------------------------------------------------------------------------------------
// Hardening: transport, headers, timeouts, link lifetimes, and what production must be given.

function list(name: string): string[] {
  return (env[name] || '').split(',').map((s) => s.trim()).filter(Boolean);
}

export const hardening = {
  /** Origins allowed to call the API from a browser (exact, comma-separated, e.g. https://app.spirit-tours.com). Empty: no cross-origin calls. */
  corsOrigins: list('CORS_ORIGINS'),
  /** Strict-Transport-Security max-age, sent in production (0 turns it off, e.g. while trying HTTPS out). */
  hstsMaxAgeSeconds: int('HSTS_MAX_AGE_SECONDS', 180 * 86400),
  /** A request still unanswered after this long gets a 503 (the socket closes a little later). */
  requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 30_000),
  /** PostgreSQL cancels an API statement running longer than this (every pooled connection). 0: no limit. */
  statementTimeoutMs: int('DATABASE_STATEMENT_TIMEOUT_MS', 15_000),
  /** The same for workers: under the longest activity timeout (2 minutes; a campaign's audience of a million rows is one statement). */
  workerStatementTimeoutMs: int('WORKER_STATEMENT_TIMEOUT_MS', 110_000),
  /** An unsubscribe link older than this only unsubscribes (its preferences page offers nothing else). */
  unsubscribeLinkTtlDays: int('UNSUBSCRIBE_LINK_TTL_DAYS', 90),
  /** How long the link in a re-subscription confirmation email works. */
  resubscribeConfirmHours: int('RESUBSCRIBE_CONFIRM_HOURS', 48),
};

/** Why this process may not run in production, one line per missing or unsafe setting (empty: ready). */
export function productionProblems(service: 'api' | 'worker', environment: NodeJS.ProcessEnv = process.env): string[] {
  const problems: string[] = [];
  const publicUrl = environment.PUBLIC_URL;
  if (!publicUrl) problems.push('PUBLIC_URL is required: the https address customers reach (links in emails and payment pages), e.g. https://book.spirit-tours.com');
  else if (!/^https:\/\/[^/]/i.test(publicUrl)) problems.push(`PUBLIC_URL must be an https:// address (links in emails carry capabilities), got "${publicUrl}"`);
  const provider = (environment.EMAIL_PROVIDER || 'outbox').trim().toLowerCase();
  if (provider === 'outbox') problems.push('EMAIL_PROVIDER must be a real provider (sendgrid or smtp): the outbox only writes files');
  else if (provider === 'sendgrid' && !environment.SENDGRID_API_KEY) problems.push('SENDGRID_API_KEY is required with EMAIL_PROVIDER=sendgrid');
  else if (provider === 'smtp' && !environment.SMTP_URL) problems.push('SMTP_URL is required with EMAIL_PROVIDER=smtp (smtp://user:pass@host:587)');
  const secret = (name: string) => {
    const value = environment[name];
    if (!value) problems.push(`${name} is required (at least 32 random characters, e.g. \`openssl rand -hex 32\`)`);
    else if (value.length < 32) problems.push(`${name} must be at least 32 characters long`);
  };
  secret('EMAIL_LINK_SECRET');
  const whatsapp = (environment.WHATSAPP_CHANNEL || 'simulator').trim().toLowerCase();
  if (!['simulator', 'cloud', 'web'].includes(whatsapp)) problems.push(`WHATSAPP_CHANNEL must be simulator, cloud or web, got "${whatsapp}"`);
  else if (whatsapp === 'simulator' && environment.WHATSAPP_SIMULATOR_IN_PRODUCTION !== '1') problems.push('WHATSAPP_CHANNEL must be cloud or web (the simulator answers nobody real); set WHATSAPP_SIMULATOR_IN_PRODUCTION=1 to run it on purpose');
  else if (whatsapp === 'cloud') {
    for (const name of ['WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN']) if (!environment[name]) problems.push(`${name} is required with WHATSAPP_CHANNEL=cloud`);
  }
  if (service === 'api') {
    secret('JWT_SECRET');
    if (environment.JWT_SECRET && environment.JWT_SECRET === environment.EMAIL_LINK_SECRET) problems.push('EMAIL_LINK_SECRET must differ from JWT_SECRET');
    const token = environment.METRICS_TOKEN;
    if (!token) problems.push('METRICS_TOKEN is required: /metrics answers only "Authorization: Bearer <METRICS_TOKEN>"');
    else if (token.length < 16) problems.push('METRICS_TOKEN must be at least 16 characters long');
    for (const origin of list('CORS_ORIGINS')) if (!/^https:\/\/[^/]+$/i.test(origin)) problems.push(`CORS_ORIGINS entries must be https origins without a path, got "${origin}"`);
  }
  return problems;
}

/** Refuses to start in production with anything missing, naming every setting at once. */
export function assertProductionReady(service: 'api' | 'worker', environment: NodeJS.ProcessEnv = process.env): void {
  if (environment.NODE_ENV !== 'production') return;
  const problems = productionProblems(service, environment);
  if (problems.length) throw new Error(`Refusing to start the ${service} with NODE_ENV=production:\n  - ${problems.join('\n  - ')}`);
}

export type Config = typeof config;
