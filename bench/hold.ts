/**
 * Hold latency under load: autocannon POSTs /api/v1/bookings as the demo customer, against a stack
 * with the API AND the worker running (the API answers the hold from PostgreSQL, then starts the
 * booking workflow fire-and-forget; the worker runs each workflow's first activities), so the
 * system does its real work under load. Goal (the issue): p99 < 100 ms at 50 concurrent clients.
 *
 *   npm run bench -- hold [--connections 50] [--duration 15] [--warmup 2] [--departures 200]
 *     [--capacity 1000] [--pax 2] [--contention-duration 8] [--no-contention] [--drain 60]
 *     [--rate N] [--idempotency-keys] [--pool-max 10] [--log-level warn] [--fast] [--no-worker] [--cpu-prof]
 *     [--open-rate 20[,10,...]] [--open-duration 20] [--arrivals uniform|poisson] [--no-closed-loop]
 *
 * Phase "openLoop" (first, on the spread departures): holds OFFERED at --open-rate per second for
 * --open-duration seconds, each sent when due whatever the earlier ones are doing (bench/open-loop.ts),
 * latency counted from when each was due. This is how clients arrive in production, and the figure
 * the issue's goal is about (p99 < 100 ms at 20/s, with the worker running every workflow).
 * A comma list runs one open-loop phase per rate. --open-rate 0 skips it.
 * Phase "spread": bodies rotate over `departures` departures of a bench tour (no row contention).
 * Phase "oneDeparture": every request on ONE departure (all holds serialize on its row lock).
 * After each phase the bench waits (up to --drain s) for the booking workflows the API started to
 * run their first activities (bookings.workflow_started_at is set by the markWorkflowStarted
 * activity): the started-workflow backlog is part of the picture. Also counted on the Temporal
 * side (visibility count of bookingWorkflow executions).
 * --rate caps the offered load (autocannon overallRate): with 50 closed-loop connections the mean
 * latency is just 50 / throughput, so p99 < 100 ms needs >= ~500 holds/s unless the rate is capped.
 * --idempotency-keys sends a unique Idempotency-Key per request (what a careful OTA client does).
 * --no-worker: no worker process (the API still starts each workflow; nothing runs them): what the
 *   hold costs without the workflows' work competing for the 2 cores. Workflow counts are then 0.
 * --cpu-prof: the API and the worker run under `node --cpu-prof`; their profiles (whole life:
 *   startup, warmup, both phases) are summarized by process and thread.
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Client, Connection } from '@temporalio/client';
import { cpuMsPer, cpuPercent, cpuSnapshot, createBenchTour, holdBody, login, round1, sleep, summarizeProfiles } from './booking-support';
import { openLoop } from './open-loop';
import { makeTempDir, peakRssMb, say, startStack, type BenchStack } from './stack';

interface PhaseOptions {
  name: string;
  departureIds: string[];
  tourId: string;
  connections: number;
  duration: number;
  pax: number;
  token: string;
  rate?: number;
  idempotencyKeys: boolean;
}

async function load(stack: BenchStack, o: PhaseOptions, duration: number) {
  const bodies = o.departureIds.map((id) => JSON.stringify(holdBody(id, o.pax)));
  let n = 0;
  const runTag = `${o.name}-${Date.now()}`;
  const errorSamples: Array<{ status: number; body: string }> = [];
  const result = await autocannon({
    url: stack.baseUrl,
    connections: o.connections,
    duration,
    ...(o.rate ? { overallRate: o.rate } : {}),
    requests: [{
      method: 'POST',
      path: '/api/v1/bookings',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${o.token}` },
      setupRequest: (req) => {
        const i = n++;
        const headers = o.idempotencyKeys ? { ...req.headers, 'idempotency-key': `${runTag}-${i}` } : req.headers;
        return { ...req, headers, body: bodies[i % bodies.length] };
      },
      onResponse: (status, body) => {
        if ((status < 200 || status >= 300) && errorSamples.length < 5) errorSamples.push({ status, body: String(body).slice(0, 300) });
      },
    }],
  });
  return { result, errorSamples, sent: n };
}

async function counts(stack: BenchStack, tourId: string) {
  const row = await stack.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').where('d.tour_id', tourId)
    .first(stack.knex.raw('count(*)::int as holds'), stack.knex.raw('count(b.workflow_started_at)::int as started'));
  return row as { holds: number; started: number };
}

async function temporalCount(client: Client): Promise<number | undefined> {
  try {
    return (await client.workflow.count(`WorkflowType = 'bookingWorkflow'`)).count;
  } catch (err) {
    say(`visibility count failed: ${(err as Error).message}`);
    return undefined;
  }
}

/** Waits for the booking workflows of this tour to run their first activities; stops early when no progress for 15 s. */
async function drain(stack: BenchStack, tourId: string, maxSeconds: number) {
  const t0 = Date.now();
  let last = await counts(stack, tourId);
  let lastProgress = Date.now();
  for (;;) {
    if (last.started >= last.holds) break;
    if (Date.now() - t0 > maxSeconds * 1000 || Date.now() - lastProgress > 15_000) break;
    await sleep(500);
    const now = await counts(stack, tourId);
    if (now.started > last.started) lastProgress = Date.now();
    last = now;
  }
  return { ...last, seconds: round1((Date.now() - t0) / 1000) };
}

async function phase(stack: BenchStack, client: Client, o: PhaseOptions, warmup: number, drainSeconds: number) {
  if (warmup > 0) {
    say(`[${o.name}] warmup: ${warmup} s at ${o.connections} connections (not measured), then drain`);
    await load(stack, o, warmup);
    const d = await drain(stack, o.tourId, drainSeconds);
    say(`[${o.name}] warmup holds ${d.holds}, workflows started ${d.started} (${d.seconds} s drain)`);
  }
  const before = await counts(stack, o.tourId);
  const temporalBefore = await temporalCount(client);
  say(`[${o.name}] measuring: ${o.duration} s at ${o.connections} connections over ${o.departureIds.length} departure(s)${o.rate ? `, offered load capped at ${o.rate} req/s` : ''}`);
  const cpu0 = cpuSnapshot(stack);
  let apiRssMax = 0;
  let workerRssMax = 0;
  const sampler = setInterval(() => {
    apiRssMax = Math.max(apiRssMax, stack.rssOf(stack.pids.api) ?? 0);
    if (stack.pids.worker) workerRssMax = Math.max(workerRssMax, stack.rssOf(stack.pids.worker) ?? 0);
  }, 250);
  const { result, errorSamples } = await load(stack, o, o.duration);
  const cpu1 = cpuSnapshot(stack);
  const atEnd = await counts(stack, o.tourId);
  const temporalAtEnd = await temporalCount(client);
  say(`[${o.name}] ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p90 ${result.latency.p90} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}; holds ${atEnd.holds - before.holds}, workflows started so far ${atEnd.started - before.started}`);
  const drained = await drain(stack, o.tourId, drainSeconds);
  const cpu2 = cpuSnapshot(stack);
  clearInterval(sampler);
  const temporalAfter = await temporalCount(client);
  const holds = drained.holds - before.holds;
  const startedAtEnd = atEnd.started - before.started;
  const startedAfter = drained.started - before.started;
  say(`[${o.name}] after ${drained.seconds} s drain: ${startedAfter}/${holds} workflows ran markWorkflowStarted`);
  const cpuLoad = cpuPercent(cpu0, cpu1, 'benchAutocannon');
  const cpuDrain = cpuPercent(cpu1, cpu2, 'benchAutocannon');
  say(`[${o.name}] CPU during load (% of one core): ${JSON.stringify(cpuLoad)}`);
  say(`[${o.name}] CPU during drain: ${JSON.stringify(cpuDrain)}`);
  const reqPerSec = Math.round(result.requests.average);
  return {
    departures: o.departureIds.length,
    connections: o.connections,
    durationSeconds: o.duration,
    offeredRate: o.rate ?? 'unlimited',
    reqPerSec,
    latencyMs: { avg: result.latency.average, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    // Closed loop: mean latency = connections / throughput (Little's law), whatever the server does per request.
    littleLawMeanMs: reqPerSec ? round1((o.connections / reqPerSec) * 1000) : undefined,
    requests: result.requests.total,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    errors: result.errors,
    timeouts: result.timeouts,
    errorSamples,
    holdsCommitted: holds,
    workflows: {
      // bookings.workflow_started_at: set by the workflow's second activity, so "started and running on the worker".
      markedStartedAtLoadEnd: startedAtEnd,
      markedStartedAfterDrain: startedAfter,
      backlogAtLoadEnd: (atEnd.holds - before.holds) - startedAtEnd,
      drainSeconds: drained.seconds,
      startedPerSecondDuringLoad: round1(startedAtEnd / o.duration),
      // Visibility (eventually consistent): bookingWorkflow executions the server knows of, this phase.
      temporalStartedAtLoadEnd: temporalAtEnd !== undefined && temporalBefore !== undefined ? temporalAtEnd - temporalBefore : undefined,
      temporalStartedAfterDrain: temporalAfter !== undefined && temporalBefore !== undefined ? temporalAfter - temporalBefore : undefined,
    },
    cpuPercentOfOneCoreDuringLoad: cpuLoad,
    // CPU ms per committed hold, by process: during the load only, and load + drain (the holds' workflows' first tasks included).
    cpuMsPerHoldDuringLoad: cpuMsPer(cpu0, cpu1, Math.max(1, atEnd.holds - before.holds)),
    cpuMsPerHoldIncludingDrain: cpuMsPer(cpu0, cpu2, Math.max(1, holds)),
    cpuPercentOfOneCoreDuringDrain: cpuDrain,
    apiRssPeakDuringLoadMb: apiRssMax,
    workerRssPeakMb: workerRssMax,
    goal: { p99Ms: 100, met: result.latency.p99 < 100 && result.non2xx === 0 && result.errors === 0, otaP90Ms: 1000, otaMet: result.latency.p90 < 1000 && result.non2xx === 0 },
  };
}

/** Holds offered open loop at `rate` per second; then the drain, as for the closed-loop phases. */
async function openPhase(stack: BenchStack, o: { name: string; departureIds: string[]; tourId: string; pax: number; token: string; rate: number; duration: number; arrivals: 'uniform' | 'poisson'; drainSeconds: number; warmup: number }) {
  const bodies = o.departureIds.map((id) => JSON.stringify(holdBody(id, o.pax)));
  const offer = (rate: number, durationSeconds: number) => openLoop({
    baseUrl: stack.baseUrl, method: 'POST', rate, durationSeconds, arrivals: o.arrivals,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${o.token}` },
    request: (i) => ({ path: '/api/v1/bookings', body: bodies[i % bodies.length] }),
  });
  if (o.warmup > 0) {
    say(`[${o.name}] warmup: ${o.warmup} s at ${o.rate}/s (not measured), then drain`);
    await offer(o.rate, o.warmup);
    await drain(stack, o.tourId, o.drainSeconds);
  }
  const before = await counts(stack, o.tourId);
  say(`[${o.name}] measuring: holds offered open loop at ${o.rate}/s (${o.arrivals}) for ${o.duration} s`);
  const cpu0 = cpuSnapshot(stack);
  const result = await offer(o.rate, o.duration);
  const cpu1 = cpuSnapshot(stack);
  const atEnd = await counts(stack, o.tourId);
  const l = result.latencyMs;
  say(`[${o.name}] offered ${o.rate}/s, achieved ${result.achievedRate}/s: p50 ${l?.p50} ms, p90 ${l?.p90} ms, p99 ${l?.p99} ms, max ${l?.max} ms; non-2xx ${result.non2xx}, errors ${result.errors}, max in flight ${result.maxInFlight}`);
  const drained = await drain(stack, o.tourId, o.drainSeconds);
  const cpu2 = cpuSnapshot(stack);
  const cpuLoad = cpuPercent(cpu0, cpu1, 'benchLoadGenerator');
  say(`[${o.name}] CPU during load (% of one core): ${JSON.stringify(cpuLoad)}`);
  const holds = drained.holds - before.holds;
  return {
    ...result,
    holdsCommitted: holds,
    workflows: {
      markedStartedAtLoadEnd: atEnd.started - before.started,
      markedStartedAfterDrain: drained.started - before.started,
      drainSeconds: drained.seconds,
    },
    cpuPercentOfOneCoreDuringLoad: cpuLoad,
    cpuMsPerHoldIncludingDrain: cpuMsPer(cpu0, cpu2, Math.max(1, holds)),
    goal: { p99Ms: 100, met: (l?.p99 ?? Infinity) < 100 && result.non2xx === 0 && result.errors === 0 && result.timeouts === 0 },
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      connections: { type: 'string', default: '50' },
      duration: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '2' },
      departures: { type: 'string', default: '200' },
      capacity: { type: 'string', default: '1000' },
      pax: { type: 'string', default: '2' },
      'contention-duration': { type: 'string', default: '8' },
      'no-contention': { type: 'boolean', default: false },
      drain: { type: 'string', default: '60' },
      rate: { type: 'string' },
      'idempotency-keys': { type: 'boolean', default: false },
      'pool-max': { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      fast: { type: 'boolean', default: false },
      'no-worker': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'open-rate': { type: 'string', default: '20' },
      'open-duration': { type: 'string', default: '20' },
      arrivals: { type: 'string', default: 'uniform' },
      'no-closed-loop': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const openRates = o['open-rate']!.split(',').map(Number).filter((r) => r > 0);
  const arrivals = o.arrivals as 'uniform' | 'poisson';
  if (!['uniform', 'poisson'].includes(arrivals)) throw new Error(`--arrivals must be uniform or poisson (got ${o.arrivals})`);
  const connections = Number(o.connections);
  const pax = Number(o.pax);
  const drainSeconds = o['no-worker'] ? 0 : Number(o.drain);
  const rate = o.rate ? Number(o.rate) : undefined;

  const withWorker = !o['no-worker'];
  const profDir = o['cpu-prof'] ? makeTempDir('spirit-bench-cpuprof-') : undefined;
  const stack = await startStack({
    worker: withWorker, fast: o.fast, env: { LOG_LEVEL: o['log-level'], DATABASE_POOL_MAX: o['pool-max'] },
    nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  const pids = { ...stack.pids };
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  let report: Record<string, unknown>;
  try {
    const spread = await createBenchTour(stack.knex, { departures: Number(o.departures), capacity: Number(o.capacity) });
    const single = await createBenchTour(stack.knex, { departures: 1, capacity: 1_000_000 });
    const { token } = await login(stack.baseUrl);
    // One hold by hand first: the load must hit a real 201.
    const probe = await fetch(`${stack.baseUrl}/api/v1/bookings`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(holdBody(spread.departureIds[0], pax)),
    });
    const probeText = await probe.text();
    if (probe.status !== 201) throw new Error(`probe hold answered ${probe.status}: ${probeText.slice(0, 500)}`);
    say(`probe hold: 201, ${Buffer.byteLength(probeText)} B; capacity ${Number(o.departures)} x ${o.capacity} seats, ${pax} pax per hold`);
    await sleep(1000);
    const workerRssIdleMb = stack.pids.worker ? stack.rssOf(stack.pids.worker) : undefined;
    const apiRssIdleMb = stack.rssOf(stack.pids.api);

    const openLoopResults = [];
    for (const openRate of openRates) {
      openLoopResults.push(await openPhase(stack, {
        name: `openLoop ${openRate}/s`, departureIds: spread.departureIds, tourId: spread.tourId, pax, token, rate: openRate,
        duration: Number(o['open-duration']), arrivals, drainSeconds, warmup: openLoopResults.length === 0 ? Number(o.warmup) + 1 : 0,
      }));
    }
    const common = { connections, pax, token, rate, idempotencyKeys: o['idempotency-keys'] };
    const spreadResult = o['no-closed-loop'] ? undefined : await phase(stack, client, { ...common, name: 'spread', departureIds: spread.departureIds, tourId: spread.tourId, duration: Number(o.duration) }, Number(o.warmup), drainSeconds);
    let oneDeparture: Record<string, unknown> | undefined;
    if (!o['no-contention'] && !o['no-closed-loop']) {
      oneDeparture = await phase(stack, client, { ...common, name: 'oneDeparture', departureIds: single.departureIds, tourId: single.tourId, duration: Number(o['contention-duration']) }, 0, drainSeconds);
      const seats = await stack.knex('departures').where({ id: single.departureIds[0] }).first('capacity', 'seats_held', 'seats_sold');
      oneDeparture.departureSeats = seats;
    }
    const soldOut = await stack.knex('departures').where({ tour_id: spread.tourId }).whereRaw('capacity - seats_held - seats_sold < ?', [pax]).count<{ count: string }[]>('* as count');
    report = {
      endpoint: 'POST /api/v1/bookings (customer@demo.test)',
      worker: withWorker,
      paxPerHold: pax,
      idempotencyKeys: o['idempotency-keys'],
      apiLogLevel: o['log-level'],
      databasePoolMax: Number(o['pool-max'] ?? process.env.DATABASE_POOL_MAX ?? 10),
      postgres: process.env.DATABASE_URL ? 'external' : o.fast ? 'embedded-fast' : 'embedded-durable',
      openLoop: openLoopResults,
      spread: spreadResult && { ...spreadResult, departuresSoldOut: Number(soldOut[0].count) },
      oneDeparture,
      apiRssIdleMb,
      apiRssHighWaterMb: peakRssMb(stack.pids.api),
      workerRssIdleMb,
      workerRssAfterMb: stack.pids.worker ? stack.rssOf(stack.pids.worker) : undefined,
      workerRssHighWaterMb: stack.pids.worker ? peakRssMb(stack.pids.worker) : undefined,
      temporalRssAfterMb: stack.pids.temporal ? stack.rssOf(stack.pids.temporal) : undefined,
      note: 'The housekeeping schedule (every minute, bookings older than 30 s) also starts workflows the API has not started yet.',
    };
  } finally {
    await connection.close();
    await stack.stop(); // the API and the worker write their profiles when they exit
  }
  if (profDir) {
    const profiles = summarizeProfiles(profDir, { api: pids.api, worker: pids.worker });
    for (const p of profiles) {
      say(`${p.process} ${p.thread}: ${Math.round(p.sampledMs - p.idleMs)} ms busy; by package: ${p.byCategory.slice(0, 8).map((c) => `${c.name} ${c.pct}%`).join(', ')}`);
      for (const f of p.topFunctions.slice(0, 8)) say(`    ${String(f.pct).padStart(5)}%  ${f.fn}  ${f.where}`);
    }
    report.cpuProfiles = profiles;
    report.cpuProfileDir = profDir;
  }
  return report;
}
