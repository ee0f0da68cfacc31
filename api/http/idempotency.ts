/**
 * Idempotency-Key on mutating requests (Stripe's rules): the first request with a key runs and
 * its answer is stored; a retry with the same key and body gets that answer again, never a
 * second effect; the same key with another body is refused. Keys are scoped to the caller.
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
    if (prior.completed_at === null) {
      throw new Problem(409, 'idempotency_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly.', { headers: { 'Retry-After': '1' } });
    }
    const headers: Record<string, string> = { 'Idempotent-Replayed': 'true' };
    if (prior.status_code >= 400) headers['Content-Type'] = 'application/problem+json';
    return { status: prior.status_code, body: prior.response_body ?? undefined, headers };
  }
  try {
    const result = await run();
    await knex('idempotency_keys').where({ principal: owner, key }).update({
      status_code: result.status ?? 200, response_body: result.body === undefined ? null : JSON.stringify(result.body), completed_at: knex.fn.now(),
    });
    return result;
  } catch (err) {
    if (err instanceof Problem && err.status < 500) {
      // A refusal is an answer too: the retry gets the same refusal.
      const body = problemBody(err, ctx.state.requestId, ctx.path);
      await knex('idempotency_keys').where({ principal: owner, key }).update({
        status_code: err.status, response_body: JSON.stringify(body), completed_at: knex.fn.now(),
      });
    } else {
      // Unknown outcome on our side: free the key so the client's retry runs again.
      await knex('idempotency_keys').where({ principal: owner, key }).delete();
    }
    throw err;
  }
}
