/**
 * End to end: confirmed bookings per second with the sandbox provider, against the throughput of a
 * no-op workflow with the same number of activities, on the same Temporal server in the same run.
 * Goal (the issue): bookings/s >= half the no-op rate.
 *
 *   npm run bench -- booking [--count 300] [--concurrency 50] [--noop-concurrency <concurrency>]
 *     [--hold api|direct] [--departures 50] [--warmup 20] [--no-shaped] [--pool-max 10] [--fast]
 *
 * 1. One booking (hold + pay via the API) whose workflow history is fetched: its ActivityTaskScheduled
 *    events up to confirmation are the activity count K (a tour WITHOUT package components, so
 *    no supplier activities). A few more bookings warm the API and the worker (not measured).
 * 2. Bookings: `count` bookings, at most `concurrency` in flight: hold (`--hold api`: POST
 *    /api/v1/bookings, which also starts the workflow fire-and-forget; `--hold direct`: placeHold on
 *    the bench's own pool + startBookingWorkflow fire-and-forget, no API on the hold), then POST
 *    /api/v1/bookings/{id}/payments with pm_card_visa, whose 201 means the saga ran to
 *    confirmation. Measured from the first hold to the last confirmation; checked in the database.
 * 3. No-op: `count` noopWorkflow executions (K no-op activities in sequence, the booking workflow's
 *    activity options), at most `noop-concurrency` in flight, on an in-process worker with default
 *    settings (as workers/worker.ts creates them) on its own task queue of the same server.
 * 4. No-op shaped like a booking (unless --no-shaped): start, then update-with-start `go`; 2
 *    activities before the update, K-2 in its handler (what the pay update does): Temporal's cost of
 *    the booking's shape without HTTP, PostgreSQL or the payment provider.
 * The booking workflows stay open after confirmation (timers until departure): expected.
 */
import { parseArgs } from 'node:util';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { startBookingWorkflow } from '../api/booking-workflows';
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

function phaseReport(label: string, count: number, ms: number, a: CpuSnapshot, b: CpuSnapshot, benchLabel: string) {
  const perSecond = round1((count / ms) * 1000);
  const cpu = cpuPercent(a, b, benchLabel);
  say(`[${label}] ${count} in ${round1(ms / 1000)} s = ${perSecond}/s; CPU (% of one core): ${JSON.stringify(cpu)}`);
  return { perSecond, seconds: round1(ms / 1000), cpuPercentOfOneCore: cpu, cpuMsPerUnit: cpuMsPer(a, b, count) };
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

    // 2. Bookings.
    say(`[booking] ${count} bookings, ${concurrency} in flight, hold via ${o.hold === 'direct' ? 'placeHold (bench pool)' : 'the API'}, pay via the API`);
    const b0 = cpuSnapshot(stack);
    const tb = performance.now();
    await inPool(count, concurrency, async (i) => void (await book(warmup + 1 + i, true)));
    const bookingMs = performance.now() - tb;
    const b1 = cpuSnapshot(stack);
    const booking = phaseReport('booking', count, bookingMs, b0, b1, 'bench');
    const confirmed = await stack.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').where('d.tour_id', tour.tourId)
      .whereIn('b.status', ['confirmed', 'paid_in_full']).count<{ count: string }[]>('* as count');
    const confirmedCount = Number(confirmed[0].count);
    if (confirmedCount !== count + warmup + 1) throw new Error(`expected ${count + warmup + 1} confirmed bookings, found ${confirmedCount}`);

    // 3. No-op, same activity count.
    say(`[noop] ${count} noopWorkflow x ${K} activities, ${noopConcurrency} in flight`);
    const n0 = cpuSnapshot(stack);
    const tn = performance.now();
    await inPool(count, noopConcurrency, noopPlain('measure'));
    const noopMs = performance.now() - tn;
    const n1 = cpuSnapshot(stack);
    const noop = phaseReport('noop', count, noopMs, n0, n1, 'benchWorkerAndClient');

    // 4. No-op with the booking's shape.
    let shaped: ReturnType<typeof phaseReport> | undefined;
    if (!o['no-shaped']) {
      say(`[noop-shaped] ${count} noopShapedWorkflow (${before} activities, update-with-start, ${K - before} activities), ${noopConcurrency} in flight`);
      const s0 = cpuSnapshot(stack);
      const ts = performance.now();
      await inPool(count, noopConcurrency, noopShaped('measure'));
      const shapedMs = performance.now() - ts;
      shaped = phaseReport('noop-shaped', count, shapedMs, s0, cpuSnapshot(stack), 'benchWorkerAndClient');
    }

    const ratio = Math.round((booking.perSecond / noop.perSecond) * 100) / 100;
    say(`bookings/s ${booking.perSecond}, no-op/s ${noop.perSecond}, ratio ${ratio} (goal >= 0.5)${shaped ? `; shaped no-op/s ${shaped.perSecond}` : ''}`);
    return {
      count,
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
