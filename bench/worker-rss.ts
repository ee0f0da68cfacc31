/**
 * Worker memory with many bookings in flight. Goal (the issue): worker RSS < 500 MB with 5,000
 * bookings in flight.
 *
 *   npm run bench -- worker-rss [--count 5000] [--paid 1000] [--idle 15] [--departures 50]
 *     [--hold-concurrency 8] [--start-concurrency 50] [--pay-concurrency 50]
 *     [--worker-env K=V ...] [--worker-entry bench/experiments/worker-options.ts] [--bundle-in-worker]
 *
 * Against the worker child process (workers/main.ts, started as `npm start` starts it):
 * 1. `count` holds with placeHold on a pool of the bench's own (in batches, `hold-concurrency` at a time);
 * 2. their booking workflows started with the client (startBookingWorkflow, the stack's task
 *    queue prefix), waiting until each ran markWorkflowStarted (then it sleeps until hold expiry);
 * 3. `paid` of them paid through the pay update (steerBooking, as the API does; sandbox pm_card_visa),
 *    after which they sleep on the booking calendar's timers (balance reminders, departure);
 * 4. `idle` seconds of quiet, then the worker's VmRSS and VmHWM (peak since it started).
 * Everything stays in flight: unpaid holds expire after 15 minutes, long after the bench ends.
 * The SDK's sticky cache (maxCachedWorkflows) keeps that many workflows in the worker's memory;
 * the default is computed from the V8 heap limit (reported below) and applies per Worker (the
 * worker process has two: bookings and platform).
 * The worker loads a workflow bundle built beforehand (WORKFLOW_BUNDLE_PATH), as npm start and the
 * production image run it; --bundle-in-worker: it bundles in its own process instead (webpack stays loaded).
 * --worker-env K=V (repeatable) adds environment for the API and worker, e.g. WORKER_TASK_QUEUES=bookings.
 * --worker-entry runs a what-if instead of workers/main.ts: bench/experiments/worker-options.ts is
 * workers/main.ts with extra Worker options (--worker-env WORKER_MAX_CACHED_WORKFLOWS=500) that also
 * logs the main thread's V8 heap; its last entries are reported as workerMemoryLog.
 */
import v8 from 'node:v8';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startBookingWorkflow, steerBooking } from '../services/booking-workflows';
import { createKnex } from '../platform/db';
import { config } from '../platform/config';
import { placeHold } from '../models/holds';
import { taskQueues, temporalConfig } from '../temporal.config';
import { payUpdate } from '../workflows/booking-messages';
import { cpuPercent, cpuSnapshot, createBenchTour, holdBody, inPool, login, pollUntil, round1, sleep } from './booking-support';
import { peakRssMb, pssMb, say, startStack } from './stack';

/** The what-if worker's own record (bench/experiments/worker-options.ts): its Workers' settings and its last memory reading. */
function readMemoryLog(dataDir: string) {
  try {
    const lines = fs.readFileSync(path.join(dataDir, 'worker-memory.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string });
    const memory = lines.filter((l) => l.kind === 'memory');
    return { workers: lines.filter((l) => l.kind === 'worker'), first: memory[0], last: memory.at(-1) };
  } catch {
    return undefined; // workers/main.ts itself writes none
  }
}

function threads(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return undefined;
  }
}

/** The SDK's default maxCachedWorkflows (worker-options.js, reuseV8Context: true) for a heap limit in MiB. */
function defaultMaxCachedWorkflows(heapLimitMiB: number): number {
  return Math.max(Math.floor((Math.max(heapLimitMiB - 200, 0) * 600) / 1024), 10);
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      count: { type: 'string', default: '5000' },
      paid: { type: 'string', default: '1000' },
      idle: { type: 'string', default: '15' },
      departures: { type: 'string', default: '50' },
      'hold-concurrency': { type: 'string', default: '8' },
      'start-concurrency': { type: 'string', default: '50' },
      'pay-concurrency': { type: 'string', default: '50' },
      'worker-env': { type: 'string', multiple: true },
      'worker-entry': { type: 'string' },
      'bundle-in-worker': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const count = Number(o.count);
  const paid = Math.min(count, Number(o.paid));
  const extraEnv = Object.fromEntries((o['worker-env'] ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

  const stack = await startStack({ worker: true, env: extraEnv, workerEntry: o['worker-entry'], prebuiltBundle: !o['bundle-in-worker'] });
  temporalConfig.taskQueuePrefix = stack.taskQueuePrefix; // startBookingWorkflow/steerBooking use the stack's queues
  const workerPid = stack.pids.worker!;
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const holdConcurrency = Number(o['hold-concurrency']);
  const pool = createKnex(stack.databaseUrl, holdConcurrency);
  const timeline: Array<{ at: string; seconds: number; workerRssMb?: number; workerHwmMb?: number; temporalRssMb?: number }> = [];
  const t0 = Date.now();
  const mark = (at: string) => {
    const entry = { at, seconds: round1((Date.now() - t0) / 1000), workerRssMb: stack.rssOf(workerPid), workerHwmMb: peakRssMb(workerPid), temporalRssMb: stack.pids.temporal ? stack.rssOf(stack.pids.temporal) : undefined };
    timeline.push(entry);
    say(`${at}: worker RSS ${entry.workerRssMb} MB (peak ${entry.workerHwmMb} MB), Temporal RSS ${entry.temporalRssMb} MB, ${entry.seconds} s`);
  };
  let rssMax = 0;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, stack.rssOf(workerPid) ?? 0);
  }, 500);
  try {
    await sleep(3000); // the worker registers its schedule and settles
    mark('worker idle, no bookings');
    const workerThreadsIdle = threads(workerPid);

    const departures = Number(o.departures);
    const tour = await createBenchTour(stack.knex, { departures, capacity: Math.max(100, Math.ceil((count * 2 * 1.2) / departures)) });
    const who = await login(stack.baseUrl);
    const ids: string[] = new Array(count);
    const th = Date.now();
    await inPool(count, holdConcurrency, async (i) => {
      const b = holdBody(tour.departureIds[i % departures]);
      const hold = await placeHold(pool, {
        departureId: b.departureId, passengers: b.passengers, contact: b.contact, language: 'en',
        customerId: who.customerId, partnerId: null, onAccount: false, createdByUserId: who.userId,
      });
      ids[i] = hold.bookingId;
    });
    say(`${count} holds in ${round1((Date.now() - th) / 1000)} s`);

    const startedCount = async () => Number((await stack.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id')
      .where('d.tour_id', tour.tourId).whereNotNull('b.workflow_started_at').count<{ count: string }[]>('* as count'))[0].count);
    const c0 = cpuSnapshot(stack);
    const ts = Date.now();
    await inPool(count, Number(o['start-concurrency']), async (i) => startBookingWorkflow(client, ids[i]));
    const startCallsSeconds = round1((Date.now() - ts) / 1000);
    say(`${count} workflow starts accepted by Temporal in ${startCallsSeconds} s; waiting for the worker to run their first activities`);
    const started = await pollUntil(startedCount, (n) => n >= count, 180_000, 1000);
    const startSeconds = round1((Date.now() - ts) / 1000);
    const c1 = cpuSnapshot(stack);
    say(`${started.value}/${count} workflows ran markWorkflowStarted, ${startSeconds} s after the first start (${round1(count / startSeconds)}/s)`);
    mark(`${started.value} workflows started (held, sleeping until hold expiry)`);

    let paySeconds: number | undefined;
    let c2 = c1;
    if (paid > 0) {
      const tp = Date.now();
      let failures = 0;
      await inPool(paid, Number(o['pay-concurrency']), async (i) => {
        const result = await steerBooking(client, ids[i], payUpdate, { provider: 'sandbox', paymentMethod: 'pm_card_visa', actor: who.userId });
        if (result.outcome !== 'succeeded') failures++;
      });
      paySeconds = round1((Date.now() - tp) / 1000);
      c2 = cpuSnapshot(stack);
      say(`${paid} paid in ${paySeconds} s (${round1(paid / paySeconds)}/s), ${failures} not succeeded`);
      mark(`${paid} paid (confirmed, sleeping on the calendar's timers)`);
    }

    const idle = Number(o.idle);
    say(`idle ${idle} s`);
    const c3 = cpuSnapshot(stack);
    await sleep(idle * 1000);
    const c4 = cpuSnapshot(stack);
    mark(`after ${idle} s idle`);

    const statuses = await stack.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').where('d.tour_id', tour.tourId)
      .groupBy('b.status').select('b.status', stack.knex.raw('count(*)::int as n'));
    let openWorkflows: number | undefined;
    try {
      openWorkflows = (await client.workflow.count(`WorkflowType = 'bookingWorkflow' AND ExecutionStatus = 'Running'`)).count;
    } catch (err) {
      say(`visibility count failed: ${(err as Error).message}`);
    }
    const memoryLog = readMemoryLog(stack.dataDir);
    const queues = extraEnv.WORKER_TASK_QUEUES ? extraEnv.WORKER_TASK_QUEUES.split(',') : Object.values(taskQueues);
    const heapLimitMiB = Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20);
    const cacheDefault = defaultMaxCachedWorkflows(heapLimitMiB);
    const workerRssMb = stack.rssOf(workerPid)!;
    const idleRss = timeline[0].workerRssMb ?? 0;
    // workers/worker.ts passes WORKER_MAX_CACHED_WORKFLOWS (config default 250) to every Worker.
    const cacheSetting = Number(extraEnv.WORKER_MAX_CACHED_WORKFLOWS || config.workerMaxCachedWorkflows);
    const cachedUpperBound = Math.min(count, cacheSetting);
    return {
      count,
      paid,
      holdVia: 'placeHold on the bench pool',
      startVia: 'startBookingWorkflow (client in the bench)',
      payVia: 'steerBooking(payUpdate), as the API does (sandbox, pm_card_visa)',
      workerEntry: o['worker-entry'] ?? 'workers/main.ts',
      workflowBundle: o['bundle-in-worker'] ? 'bundled in the worker process' : 'prebuilt (WORKFLOW_BUNDLE_PATH), as npm start does',
      workerEnv: Object.keys(extraEnv).length ? extraEnv : undefined,
      workerTaskQueues: queues,
      bookingsByStatus: Object.fromEntries(statuses.map((r: { status: string; n: number }) => [r.status, r.n])),
      openBookingWorkflows: openWorkflows,
      workerRssMb,
      workerRssPeakMb: peakRssMb(workerPid), // VmHWM
      workerRssMaxSampledMb: rssMax,
      workerPssMb: pssMb(workerPid),
      workerRssIdleBeforeBookingsMb: idleRss,
      workerThreads: { idle: workerThreadsIdle, end: threads(workerPid) },
      goal: { rssMb: 500, met: workerRssMb < 500 && (peakRssMb(workerPid) ?? 0) < 500, metByCurrentRssOnly: workerRssMb < 500 },
      stickyCache: {
        setting: `maxCachedWorkflows ${cacheSetting} per Worker (WORKER_MAX_CACHED_WORKFLOWS${extraEnv.WORKER_MAX_CACHED_WORKFLOWS ? '' : ', the default'}); the platform queue's at most 20`,
        workersInProcess: queues.length,
        heapSizeLimitMiB: heapLimitMiB,
        sdkDefaultMaxCachedWorkflowsPerWorker: cacheDefault,
        formula: 'max(floor((heapSizeLimitMiB - 200) * 600 / 1024), 10)  (@temporalio/worker worker-options.js, reuseV8Context)',
        cachedBookingWorkflowsUpperBound: cachedUpperBound,
        mbPerCachedWorkflowEstimate: cachedUpperBound ? round1(((workerRssMb - idleRss) / cachedUpperBound) * 1000) / 1000 : undefined,
      },
      rates: {
        startCallsSeconds,
        startedToFirstActivitiesSeconds: startSeconds,
        startedPerSecond: round1(count / startSeconds),
        paySeconds,
        paidPerSecond: paySeconds ? round1(paid / paySeconds) : undefined,
      },
      cpuPercentOfOneCore: {
        starting: cpuPercent(c0, c1),
        ...(paid > 0 ? { paying: cpuPercent(c1, c2) } : {}),
        idle: cpuPercent(c3, c4),
      },
      temporalRssMb: stack.pids.temporal ? stack.rssOf(stack.pids.temporal) : undefined,
      apiRssMb: stack.rssOf(stack.pids.api),
      timeline,
      workerMemoryLog: memoryLog,
    };
  } finally {
    clearInterval(sampler);
    await pool.destroy();
    await connection.close();
    await stack.stop();
  }
}
