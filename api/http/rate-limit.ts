/**
 * Rate limits whose counts every API instance shares: rate-limiter-flexible on PostgreSQL
 * (table rate_limits, made by a migration, never at run time). A route declares its limits
 * (`rateLimit: [...]` in api/http/routes.ts); a refusal is a 429 problem with Retry-After.
 * Each limit reads its allowance from config when used, so 0 turns it off.
 */
import type Koa from 'koa';
import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Principal } from '../auth';
import { config } from '../../platform/config';
import { Problem } from './problem';

export const RATE_LIMIT_TABLE = 'rate_limits';

export interface RateLimitRule<I = { body: unknown; principal: Principal | undefined }> {
  /** Names the counter (the key prefix), e.g. "holds". */
  name: string;
  /** Allowance per window, read when used; 0 or less: no limit. */
  points: () => number;
  durationSeconds: number;
  /** What is counted, for the refusal's message, e.g. "holds per user". */
  what: string;
  /** Whose count this request adds to; undefined: this request is not counted. */
  key: (ctx: Koa.Context, input: I) => string | undefined;
}

const limiters = new WeakMap<Knex, Map<string, RateLimiterPostgres>>();

/** One limiter per (database, name, allowance, window), made on first use. */
export function limiterFor(knex: Knex, name: string, points: number, durationSeconds: number): RateLimiterPostgres {
  let byName = limiters.get(knex);
  if (!byName) limiters.set(knex, (byName = new Map()));
  const id = `${name}/${points}/${durationSeconds}`;
  let limiter = byName.get(id);
  if (!limiter) {
    limiter = new RateLimiterPostgres({
      storeClient: knex, storeType: 'knex', tableName: RATE_LIMIT_TABLE, tableCreated: true,
      keyPrefix: name, points, duration: durationSeconds,
      // One limiter per database sweeps expired rows (all prefixes share the table).
      clearExpiredByTimeout: byName.size === 0,
    });
    byName.set(id, limiter);
  }
  return limiter;
}

export function retryAfterSeconds(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

export function tooMany(what: string, points: number, durationSeconds: number, res: RateLimiterRes, limit: string): Problem {
  const retryAfter = retryAfterSeconds(res);
  const window = durationSeconds % 3600 === 0 ? `${durationSeconds / 3600} hour${durationSeconds === 3600 ? '' : 's'}`
    : durationSeconds % 60 === 0 ? `${durationSeconds / 60} minute${durationSeconds === 60 ? '' : 's'}` : `${durationSeconds} seconds`;
  return new Problem(429, 'rate_limited', `Too many ${what}: at most ${points} per ${window}. Try again in ${retryAfter} s.`, {
    limit, retryAfterSeconds: retryAfter, headers: { 'Retry-After': String(retryAfter) },
  });
}

/** Counts this request against the rule; throws the 429 when the allowance is spent. */
export async function enforceRateLimit<I>(ctx: Koa.Context, rule: RateLimitRule<I>, input: I): Promise<void> {
  const points = rule.points();
  if (points <= 0) return;
  const key = rule.key(ctx, input);
  if (key === undefined) return;
  try {
    const res = await limiterFor(ctx.knex, rule.name, points, rule.durationSeconds).consume(key);
    ctx.set('RateLimit-Policy', `${points};w=${rule.durationSeconds}`);
    ctx.set('RateLimit', `limit=${points}, remaining=${res.remainingPoints}, reset=${Math.ceil(res.msBeforeNext / 1000)}`);
  } catch (err) {
    if (err instanceof RateLimiterRes) throw tooMany(rule.what, points, rule.durationSeconds, err, rule.name);
    throw err;
  }
}

/** Per signed-in user (the route requires a principal). */
export const perUser = (ctx: Koa.Context, input: { principal: Principal | undefined }) => input.principal?.userId ?? `ip:${ctx.ip}`;

/** Holds per user, and holds that try a promo code per user (guessing codes costs a hold each). */
export const holdRateLimits: Array<RateLimitRule<{ body: { promoCode?: string }; principal: Principal | undefined }>> = [
  { name: 'holds', what: 'holds by this user', points: () => config.rateLimits.holdsPerUserPerMinute, durationSeconds: 60, key: perUser },
  {
    name: 'promo_tries', what: 'promo code tries by this user', points: () => config.rateLimits.promoTriesPerUserPerHour, durationSeconds: 3600,
    key: (ctx, input) => (input.body.promoCode ? perUser(ctx, input) : undefined),
  },
];

/** Test sends of a template per user (each one is a real email). */
export const testSendRateLimits: RateLimitRule[] = [
  { name: 'test_sends', what: 'test sends by this user', points: () => config.rateLimits.testSendsPerUserPerHour, durationSeconds: 3600, key: perUser },
];
