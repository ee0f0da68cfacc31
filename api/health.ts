/** Readiness: really asks PostgreSQL and Temporal, with a short deadline each. */
import type { Knex } from 'knex';
import type { Connection } from '@temporalio/client';

export interface CheckResult { ok: boolean; latencyMs: number; error?: string }

async function timed(deadlineMs: number, probe: () => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs); }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    // /health is public: say what failed, never the driver's text (addresses, hosts, versions).
    const timedOut = (err as Error).message === `no answer within ${deadlineMs} ms`;
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: timedOut ? `no answer within ${deadlineMs} ms` : 'not reachable' };
  } finally {
    clearTimeout(timer);
  }
}

export async function checkHealth(knex: Knex, temporal: () => Promise<Connection>) {
  const [postgres, temporalCheck] = await Promise.all([
    timed(2000, () => knex.raw('select 1')),
    timed(2000, async () => {
      const conn = await temporal();
      const res = await conn.healthService.check({});
      if (res.status !== 1 /* SERVING */) throw new Error(`Temporal health status ${res.status}`);
    }),
  ]);
  const ok = postgres.ok && temporalCheck.ok;
  return { status: ok ? 'ok' as const : 'unavailable' as const, checks: { postgres, temporal: temporalCheck } };
}
