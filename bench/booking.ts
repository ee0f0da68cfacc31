/**
 * End to end: confirmed bookings per second with the sandbox provider, against the throughput of a
 * no-op workflow with the same number of activities, on the same Temporal server in the same run.
 * Goal (the issue): bookings/s >= half the no-op rate.
 *
 *   npm run bench -- booking [--count 300] [--concurrency 50] [--noop-concurrency <concurrency>]
 *     [--hold api|direct] [--departures 50] [--warmup 20] [--rounds 3] [--no-shaped] [--pool-max 10] [--fast]
 *
 * 1. One booking (hold + pay via the API) whose workflow history is fetched: its ActivityTaskScheduled
 *    events up to confirmation are the activity count K (a tour WITHOUT package components, so
 *    no supplier activities). A few more bookings warm the API and the worker (not measured).
 * 2. Bookings: `count` bookings, at most `concurrency` in flight: hold (`--hold api`: POST
 *    /api/v1/bookings, which also starts the workflow fire-and-forget; `--hold direct`: placeHold on
 *    the bench's own pool + startBookingWorkflow fire-and-forget, no API on the hold), then POST
 *    /api/v1/bookings/{id}/payments with pm_card_visa, whose 201 means the saga ran to
 *    confirmation. Measured per round from its first hold to its last confirmation; checked in the database.
 * 3. No-op: `count` noopWorkflow executions (K no-op activities in sequence, the booking workflow's
 *    activity options), at most `noop-concurrency` in flight, on an in-process worker with default
 *    settings (as workers/worker.ts creates them) on its own task queue of the same server.
 * 4. No-op shaped like a booking (unless --no-shaped): start, then update-with-start `go`; 2
 *    activities before the update, K-2 in its handler (what the pay update does): Temporal's cost of
 *    the booking's shape without HTTP, PostgreSQL or the payment provider.
 * 2-4 run interleaved in `rounds` rounds (count/rounds of each per round), so that other load on
 * the machine (reported as otherProcesses) weighs on all three alike; rates are totals over the rounds.
 * The booking workflows stay open after confirmation (timers until departure): expected.
 */
import { parseArgs } from 'node:util';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { startBookingWorkflow } from '../services/booking-workflows';
import { createKnex } from '../platform/db';
import { placeHold } from '../models/holds';
import { temporalConfig } from '../temporal.config';
import { bookingWorkflowId } from '../workflows/booking-messages';
import { cpuMsPer, cpuPercent, cpuSnapshot, createBenchTour, holdBody, inPool, login, percentiles, round1, type CpuSnapshot } from './booking-support';
import { say, startStack, type BenchStack } from './stack';
import type { noopShapedWorkflow, noopWorkflow } from './noop-workflow';
import { goUpdate } from './noop-workflow';

const quietBundlerLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (message: string) => console.warn(message), error: (message: string) => console.error(message),
};

async function api(stack: BenchStack, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(stack.baseUrl + path, {
    method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

type Holder = (i: number) => Promise<string>;

/** One kind of work measured over several rounds: wall time and CPU by process, summed. */
class Phase {
  count = 0;
  ms = 0;
  rounds: number[] = [];
  private readonly cpu: CpuSnapshot = { at: 0, api: 0, worker: 0, postgres: 0, temporal: 0, bench: 0, machine: 0 };
  constructor(readonly label: string) {}
  async measure(stack: BenchStack, n: number, work: () => Promise<void>) {
    const a = cpuSnapshot(stack);
    await work();
    const b = cpuSnapshot(stack);
    for (const k of Object.keys(this.cpu) as Array<keyof CpuSnapshot>) this.cpu[k] += b[k] - a[k];
    this.count += n;
    this.ms += b.at - a.at;
    this.rounds.push(round1((n / (b.at - a.at)) * 1000));
    say(`[${this.label}] ${n} in ${round1((b.at - a.at) / 1000)} s = ${this.rounds.at(-1)}/s`);
  }
  report(benchLabel: string) {
    const zero: CpuSnapshot = { at: 0, api: 0, worker: 0, postgres: 0, temporal: 0, bench: 0, machine: 0 };
    const perSecond = round1((this.count / this.ms) * 1000);
    const cpu = cpuPercent(zero, this.cpu, benchLabel);
    say(`[${this.label}] total ${this.count} in ${round1(this.ms / 1000)} s = ${perSecond}/s (rounds: ${this.rounds.join(', ')}); CPU (% of one core): ${JSON.stringify(cpu)}`);
    return { perSecond, perSecondByRound: this.rounds, seconds: round1(this.ms / 1000), cpuPercentOfOneCore: cpu, cpuMsPerUnit: cpuMsPer(zero, this.cpu, this.count) };
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      count: { type: 'string', default: '300' },
      concurrency: { type: 'string', default: '50' },
      'noop-concurrency': { type: 'string' },
      hold: { type: 'string', default: 'api' },
      departures: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '3' },
      'no-shaped': { type: 'boolean', default: false },
      'pool-max': { type: 'string' },
      fast: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const count = Number(o.count);
  const concurrency = Number(o.concurrency);
  const noopConcurrency = Number(o['noop-concurrency'] ?? o.concurrency);
  const warmup = Number(o.warmup);
  const rounds = Math.max(1, Number(o.rounds));
  if (!['api', 'direct'].includes(o.hold!)) throw new Error(`--hold must be api or direct (got ${o.hold})`);

  // The in-process worker logs warnings only (the worker process logs through pino at LOG_LEVEL=warn).
  if (!Runtime.instantiator) Runtime.install({ logger: new DefaultLogger('WARN') });
  const stack = await startStack({ worker: true, fast: o.fast, env: { DATABASE_POOL_MAX: o['pool-max'] } });
  // This process's client starts booking workflows (--hold direct) on the stack's queues.
  temporalConfig.taskQueuePrefix = stack.taskQueuePrefix;
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const holdPool = o.hold === 'direct' ? createKnex(stack.databaseUrl, 10) : undefined;
  let noopWorker: Worker | undefined;
  let noopRunning: Promise<void> | undefined;
  let workerConnection: NativeConnection | undefined;
  try {
    const tour = await createBenchTour(stack.knex, { departures: Number(o.departures), capacity: 1000 });
    const who = await login(stack.baseUrl);
    const depOf = (i: number) => tour.departureIds[i % tour.departureIds.length];

    const holdViaApi: Holder = async (i) => {
      const res = await api(stack, who.token, 'POST', '/api/v1/bookings', holdBody(depOf(i)));
      if (res.status !== 201) throw new Error(`hold answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
      return res.body.id as string;
    };
    const holdDirect: Holder = async (i) => {
      const b = holdBody(depOf(i));
      const hold = await placeHold(holdPool!, {
        departureId: b.departureId, passengers: b.passengers, contact: b.contact, language: 'en',
        customerId: who.customerId, partnerId: null, onAccount: false, createdByUserId: who.userId,
      });
      // As the API does: the start is fire-and-forget (the pay update-with-start starts it anyway).
      startBookingWorkflow(client, hold.bookingId).catch((err) => say(`start failed: ${(err as Error).message}`));
      return hold.bookingId;
    };
    const hold = o.hold === 'direct' ? holdDirect : holdViaApi;
    const holdMs: number[] = [];
    const payMs: number[] = [];
    const book = async (i: number, record: boolean) => {
      const t0 = performance.now();
      const id = await hold(i);
      const t1 = performance.now();
      const res = await api(stack, who.token, 'POST', `/api/v1/bookings/${id}/payments`, { provider: 'sandbox', paymentMethod: 'pm_card_visa' });
      if (res.status !== 201 || !['confirmed', 'paid_in_full'].includes(res.body.bookingStatus)) {
        throw new Error(`pay answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
      }
      if (record) {
        holdMs.push(t1 - t0);
        payMs.push(performance.now() - t1);
      }
      return id;
    };

    // 1. One booking, and what its workflow ran to get there.
    const first = await book(0, false);
    const history = await client.workflow.getHandle(bookingWorkflowId(first)).fetchHistory();
    const activities: string[] = [];
    let workflowTasks = 0;
    for (const e of history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes) activities.push(e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      if (e.workflowTaskScheduledEventAttributes) workflowTasks++;
    }
    const K = activities.length;
    const before = activities.filter((a) => a === 'loadBooking' || a === 'markWorkflowStarted').length;
    say(`one booking's workflow to confirmation: ${K} activities (${activities.join(', ')}), ${workflowTasks} workflow tasks, ${history.events?.length} events`);
    if (warmup > 0) {
      await inPool(warmup, Math.min(concurrency, 10), async (i) => void (await book(i + 1, false)));
      say(`booking warmup: ${warmup} bookings (not measured)`);
    }

    // The no-op worker: started before the measurements, so both run with the same processes alive.
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./noop-workflow'), logger: quietBundlerLogger });
    workerConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    const noopQueue = `${stack.taskQueuePrefix}noop`;
    noopWorker = await Worker.create({
      connection: workerConnection, namespace: temporalConfig.namespace, taskQueue: noopQueue, workflowBundle: bundle,
      activities: { noop: async (step: number) => step },
    });
    noopRunning = noopWorker.run();
    const runTag = Date.now().toString(36);
    const noopPlain = (tag: string) => async (i: number) => {
      await client.workflow.execute<typeof noopWorkflow>('noopWorkflow', { taskQueue: noopQueue, workflowId: `noop-${runTag}-${tag}-${i}`, args: [{ activities: K }] });
    };
    const noopShaped = (tag: string) => async (i: number) => {
      const options = { taskQueue: noopQueue, workflowId: `noop-shaped-${runTag}-${tag}-${i}`, args: [{ before, after: K - before }] as [{ before: number; after: number }] };
      await client.workflow.start<typeof noopShapedWorkflow>('noopShapedWorkflow', options);
      await client.workflow.executeUpdateWithStart(goUpdate, {
        startWorkflowOperation: new WithStartWorkflowOperation<typeof noopShapedWorkflow>('noopShapedWorkflow', { ...options, workflowIdConflictPolicy: 'USE_EXISTING' }),
      });
    };
    await inPool(20, 10, noopPlain('warmup'));
    if (!o['no-shaped']) await inPool(20, 10, noopShaped('warmup'));
    say('no-op warmup done');

    // 2-4, interleaved: `rounds` rounds of (bookings, no-op, shaped no-op), count/rounds each, so
    // that load from other processes on the machine falls on all three alike.
    const per = Array.from({ length: rounds }, (_, r) => Math.floor(count / rounds) + (r < count % rounds ? 1 : 0));
    const acc = { booking: new Phase('booking'), noop: new Phase('noop'), shaped: new Phase('noop-shaped') };
    let offset = warmup + 1;
    for (let r = 0; r < rounds; r++) {
      const n = per[r];
      const base = offset;
      offset += n;
      say(`round ${r + 1}/${rounds}: ${n} bookings (hold via ${o.hold === 'direct' ? 'placeHold on the bench pool' : 'the API'}, pay via the API), ${n} no-op${o['no-shaped'] ? '' : `, ${n} shaped no-op`}`);
      await acc.booking.measure(stack, n, () => inPool(n, concurrency, async (i) => void (await book(base + i, true))));
      await acc.noop.measure(stack, n, () => inPool(n, noopConcurrency, noopPlain(`r${r}`)));
      if (!o['no-shaped']) await acc.shaped.measure(stack, n, () => inPool(n, noopConcurrency, noopShaped(`r${r}`)));
    }
    const confirmed = await stack.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').where('d.tour_id', tour.tourId)
      .whereIn('b.status', ['confirmed', 'paid_in_full']).count<{ count: string }[]>('* as count');
    const confirmedCount = Number(confirmed[0].count);
    if (confirmedCount !== count + warmup + 1) throw new Error(`expected ${count + warmup + 1} confirmed bookings, found ${confirmedCount}`);
    const booking = acc.booking.report('bench');
    const noop = acc.noop.report('benchWorkerAndClient');
    const shaped = o['no-shaped'] ? undefined : acc.shaped.report('benchWorkerAndClient');

    const ratio = Math.round((booking.perSecond / noop.perSecond) * 100) / 100;
    say(`bookings/s ${booking.perSecond}, no-op/s ${noop.perSecond}, ratio ${ratio} (goal >= 0.5)${shaped ? `; shaped no-op/s ${shaped.perSecond}` : ''}`);
    return {
      count,
      rounds,
      concurrency,
      noopConcurrency,
      holdVia: o.hold === 'direct' ? 'placeHold on the bench pool + startBookingWorkflow (fire-and-forget)' : 'POST /api/v1/bookings',
      payVia: 'POST /api/v1/bookings/{id}/payments (sandbox, pm_card_visa)',
      postgres: process.env.DATABASE_URL ? 'external' : o.fast ? 'embedded-fast' : 'embedded-durable',
      activitiesPerBooking: K,
      activityTypes: activities,
      workflowTasksToConfirmation: workflowTasks,
      historyEventsToConfirmation: history.events?.length,
      bookingsPerSecond: booking.perSecond,
      noopPerSecond: noop.perSecond,
      ratio,
      goal: { ratio: 0.5, met: ratio >= 0.5 },
      noopShapedPerSecond: shaped?.perSecond,
      ratioToShaped: shaped ? Math.round((booking.perSecond / shaped.perSecond) * 100) / 100 : undefined,
      booking: { ...booking, holdMs: percentiles(holdMs), payMs: percentiles(payMs), confirmedInDatabase: confirmedCount },
      noop,
      noopShaped: shaped,
      workerRssAfterMb: stack.rssOf(stack.pids.worker!),
      benchProcessRssMb: stack.rssOf(process.pid),
      note: 'cpuMsPerUnit: CPU milliseconds per booking (or per no-op workflow) by process. In the no-op phases the bench process is the worker AND the client.',
    };
  } finally {
    if (noopWorker && noopWorker.getState() === 'RUNNING') noopWorker.shutdown();
    await noopRunning?.catch(() => undefined);
    await workerConnection?.close().catch(() => undefined);
    await holdPool?.destroy();
    await connection.close();
    await stack.stop();
  }
}
