/**
 * Idempotency-Key on mutating requests (Stripe's rules): the first request with a key runs and
 * its answer is stored; a retry with the same key and body gets that answer again, never a
 * second effect; the same key with another body is refused. Keys are scoped to the caller.
 *
 * When the outcome is unknown (a server error, a timeout, or a provisional answer such as 202
 * "processing") the key is kept and marked `unknown_at`: the retry runs the handler again, and
 * handlers that steer a workflow pass `updateIdFor(...)` as the workflow update's id, so Temporal
 * deduplicates it and the retry re-attaches to the same update instead of making a second one.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
import type { Knex } from 'knex';
import type { Principal } from '../auth';
import { Problem, problemBody } from './problem';
import type { HandlerResult } from './routes';

declare module 'koa' {
  interface DefaultContext {
    knex: Knex;
  }
}

const KEY = /^[\x21-\x7e]{1,255}$/;

export async function withIdempotency(
  ctx: Koa.Context,
  principal: Principal | undefined,
  run: () => Promise<HandlerResult>,
): Promise<HandlerResult> {
  const key = ctx.get('idempotency-key');
  if (!key) return run();
  if (!KEY.test(key)) {
    throw new Problem(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 printable ASCII characters.', { param: 'Idempotency-Key' });
  }
  const owner = principal?.userId ?? 'anonymous';
  const requestHash = crypto.createHash('sha256').update(`${ctx.method} ${ctx.path}\n`).update(ctx.request.rawBody ?? Buffer.alloc(0)).digest('hex');
  const knex = ctx.knex;
  const claimed = await knex('idempotency_keys')
    .insert({ principal: owner, key, method: ctx.method, path: ctx.path, request_hash: requestHash })
    .onConflict(['principal', 'key']).ignore().returning('key');
  if (claimed.length === 0) {
    const prior = await knex('idempotency_keys').where({ principal: owner, key }).first();
    if (!prior) throw new Problem(409, 'idempotency_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly.');
    if (prior.request_hash !== requestHash) {
      throw new Problem(422, 'idempotency_key_reused', 'This Idempotency-Key was already used with a different request; use a new key for a new request.', { param: 'Idempotency-Key' });
    }
    // The earlier attempt's outcome is unknown (or its process died mid-request): this retry asks again, one at a time.
    const reclaimed = prior.completed_at === null
      ? await knex('idempotency_keys').where({ principal: owner, key }).whereNull('completed_at')
        .where((w) => w.whereNotNull('unknown_at').orWhere('created_at', '<', knex.raw(`now() - interval '2 minutes'`)))
        .update({ unknown_at: null, created_at: knex.fn.now() }).returning('key')
      : [];
    if (reclaimed.length) return runAndRecord(ctx, knex, owner, key, run);
    if (prior.completed_at === null) {
      throw new Problem(409, 'idempotency_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly.', { headers: { 'Retry-After': '1' } });
    }
    const headers: Record<string, string> = { 'Idempotent-Replayed': 'true' };
    if (prior.status_code >= 400) headers['Content-Type'] = 'application/problem+json';
    return { status: prior.status_code, body: prior.response_body ?? undefined, headers };
  }
  return runAndRecord(ctx, knex, owner, key, run);
}

async function runAndRecord(ctx: Koa.Context, knex: Knex, owner: string, key: string, run: () => Promise<HandlerResult>): Promise<HandlerResult> {
  const row = () => knex('idempotency_keys').where({ principal: owner, key });
  try {
    const result = await run();
    if (result.provisional) {
      await row().update({ unknown_at: knex.fn.now() });
      return result;
    }
    await row().update({
      status_code: result.status ?? 200, response_body: result.body === undefined ? null : JSON.stringify(result.body), completed_at: knex.fn.now(),
    });
    return result;
  } catch (err) {
    if (err instanceof Problem && err.status < 500) {
      // A refusal is an answer too: the retry gets the same refusal.
      const body = problemBody(err, ctx.state.requestId, ctx.path);
      await row().update({ status_code: err.status, response_body: JSON.stringify(body), completed_at: knex.fn.now() });
    } else {
      // Unknown outcome (it may have happened): keep the key, so the retry asks again under the same update id.
      await row().update({ unknown_at: knex.fn.now() });
    }
    throw err;
  }
}

/**
 * The workflow update id for this request: derived from the caller and its Idempotency-Key, so a
 * retry of the same request is the same update (Temporal deduplicates it). Without a key, none.
 */
export function updateIdFor(ctx: Koa.Context, principal: Principal | undefined): string | undefined {
  const key = ctx.get('idempotency-key');
  if (!key || !KEY.test(key)) return undefined;
  return `idem-${crypto.createHash('sha256').update(`${principal?.userId ?? 'anonymous'}\n${key}`).digest('hex').slice(0, 40)}`;
}
