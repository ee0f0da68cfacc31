/**
 * What FraudGuardian's check adds to a payment's path: the same bookings (hold, then POST
 * /payments with pm_card_visa, whose 201 means the saga ran to confirmation) on a stack with the
 * check off (FRAUD_CHECK=off: the saga never runs it) and on one with it on (a local activity: one
 * query, one transaction). Goal (issue 11): the check adds under 50 ms to the payment's p95.
 *
 *   npm run bench -- fraud [--count 100] [--concurrency 4] [--warmup 10] [--fast]
 *
 * Both stacks raise the velocity thresholds: the bench pays as one demo customer, from one
 * address, with one test card, hundreds of times an hour (as the test suite does), which would
 * otherwise send every payment to review. The check still runs its full query and writes.
 */
import { parseArgs } from 'node:util';
import { createBenchTour, holdBody, inPool, login, percentiles, round1 } from './booking-support';
import { say, startStack, type BenchStack } from './stack';

const VELOCITY_OUT_OF_REACH = JSON.stringify({ velocity: { maxPerCustomer: 1_000_000, maxPerCard: 1_000_000, maxPerIp: 1_000_000, declinesAllowed: 1_000_000 } });

async function call(stack: BenchStack, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(stack.baseUrl + path, {
    method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function measure(mode: 'on' | 'off', o: { count: number; concurrency: number; warmup: number; fast: boolean }) {
  say(`[fraud ${mode}] starting a stack with FRAUD_CHECK=${mode}`);
  const stack = await startStack({ worker: true, fast: o.fast, env: { FRAUD_CHECK: mode, FRAUD_RULES: VELOCITY_OUT_OF_REACH } });
  try {
    const tour = await createBenchTour(stack.knex, { departures: 20, capacity: 1000 });
    const who = await login(stack.baseUrl);
    const payMs: number[] = [];
    const ids: string[] = [];
    const book = async (i: number, record: boolean) => {
      const held = await call(stack, who.token, 'POST', '/api/v1/bookings', holdBody(tour.departureIds[i % tour.departureIds.length]));
      if (held.status !== 201) throw new Error(`hold answered ${held.status}: ${JSON.stringify(held.body).slice(0, 300)}`);
      const t0 = performance.now();
      const paid = await call(stack, who.token, 'POST', `/api/v1/bookings/${held.body.id}/payments`, { provider: 'sandbox', paymentMethod: 'pm_card_visa' });
      if (paid.status !== 201) throw new Error(`pay answered ${paid.status}: ${JSON.stringify(paid.body).slice(0, 300)}`);
      if (record) {
        payMs.push(performance.now() - t0);
        ids.push(held.body.id);
      }
    };
    await inPool(o.warmup, o.concurrency, (i) => book(i, false));
    await inPool(o.count, o.concurrency, (i) => book(o.warmup + i, true));
    const attempts = Number((await stack.knex('payment_attempts').count({ n: '*' }).first())!.n);
    const pay = { ...percentiles(payMs)!, p95: p95(payMs) };
    say(`[fraud ${mode}] pay ms ${JSON.stringify(pay)}; attempts recorded ${attempts}`);
    return { payMs: pay, attemptsRecorded: attempts };
  } finally {
    await stack.stop();
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      count: { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '10' },
      fast: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const opts = { count: Number(o.count), concurrency: Number(o.concurrency), warmup: Number(o.warmup), fast: o.fast! };
  const off = await measure('off', opts);
  const on = await measure('on', opts);
  return { count: opts.count, concurrency: opts.concurrency, off, on, addedMs: { p50: round1(on.payMs.p50 - off.payMs.p50), p95: round1(on.payMs.p95 - off.payMs.p95) }, goal: 'the check adds < 50 ms at p95' };
}

function p95(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return round1(s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]);
}
