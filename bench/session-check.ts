/**
 * `npm run bench -- session-check [--requests 200000] [--notifies 30]`: what the per-request
 * session check costs (api/auth.ts authenticate with a warm SessionDirectory: JWT verify +
 * cache lookup, no database), against the same middleware with no token, and how long a change
 * to a user takes to reach an instance's cache through NOTIFY user_sessions.
 * Runs in one process against an embedded PostgreSQL of its own.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type Koa from 'koa';
import jwt from 'jsonwebtoken';
import { authenticate, createSessionDirectory, issueAccessToken } from '../api/auth';
import { createKnex, migrateLatest } from '../platform/db';
import { startEmbeddedPostgres } from '../platform/dev-services';
import { makeTempDir, say } from './stack';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const requests = arg(args, 'requests', 200_000);
  const notifies = arg(args, 'notifies', 30);
  process.env.JWT_SECRET ??= crypto.randomBytes(36).toString('base64url');
  const dir = makeTempDir('spirit-bench-session-');
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: 0, fast: true, database: 'postgres' });
  const knex = createKnex(pg.url, 2);
  const sessions = createSessionDirectory({ knex });
  try {
    await migrateLatest(knex);
    const [user] = await knex('users').insert({ email: 'bench@session.test', name: 'Bench', role: 'marketer', password_hash: 'x' }).returning('*');
    const token = issueAccessToken({ id: user.id, role: 'marketer', branchId: null, partnerId: null, customerId: null, sessionEpoch: 0 });
    while (!sessions.listening) await new Promise((r) => setTimeout(r, 10));
    const middleware = authenticate(sessions);
    const next = async () => undefined;
    const ctx = (header: string) => ({ get: () => header, path: '/api/v1/tours', state: {} }) as unknown as Koa.Context;

    const time = async (header: string) => {
      for (let i = 0; i < 2000; i++) await middleware(ctx(header), next); // warm: JIT, and the cache for this user
      const started = process.hrtime.bigint();
      for (let i = 0; i < requests; i++) await middleware(ctx(header), next);
      return Number(process.hrtime.bigint() - started) / 1000 / requests;
    };
    // What the check was before sessions could end: verify the JWT, nothing else (same key object as api/auth.ts).
    const key = crypto.createSecretKey(Buffer.from(process.env.JWT_SECRET!, 'utf8'));
    const verifyOnly = () => {
      for (let i = 0; i < 2000; i++) jwt.verify(token, key, { algorithms: ['HS256'], issuer: 'spirit-tours' });
      const started = process.hrtime.bigint();
      for (let i = 0; i < requests; i++) jwt.verify(token, key, { algorithms: ['HS256'], issuer: 'spirit-tours' });
      return Number(process.hrtime.bigint() - started) / 1000 / requests;
    };
    const anonymousUs = await time('');
    const verifyUs = verifyOnly();
    const signedInUs = await time(`Bearer ${token}`);
    say(`authenticate: ${signedInUs.toFixed(2)} µs per signed-in request (JWT verify alone ${verifyUs.toFixed(2)} µs), ${anonymousUs.toFixed(2)} µs without a token (${requests} each)`);

    const delays: number[] = [];
    for (let i = 0; i < notifies; i++) {
      await sessions.load(user.id);
      const started = process.hrtime.bigint();
      await knex('users').where({ id: user.id }).increment('session_epoch', 1);
      while (sessions.cached(user.id) !== undefined) await new Promise((r) => setImmediate(r));
      delays.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    delays.sort((a, b) => a - b);
    say(`NOTIFY -> cache dropped (from the start of the UPDATE): median ${percentile(delays, 0.5).toFixed(2)} ms, max ${delays[delays.length - 1].toFixed(2)} ms`);
    return {
      requests, signedInMicrosPerRequest: Number(signedInUs.toFixed(2)), jwtVerifyOnlyMicros: Number(verifyUs.toFixed(2)), anonymousMicrosPerRequest: Number(anonymousUs.toFixed(2)),
      notifyToDropMs: { median: Number(percentile(delays, 0.5).toFixed(2)), p90: Number(percentile(delays, 0.9).toFixed(2)), max: Number(delays[delays.length - 1].toFixed(2)) },
    };
  } finally {
    await sessions.close();
    await knex.destroy();
    await pg.stop();
  }
}
