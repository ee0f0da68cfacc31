/**
 * The agents in core mode, end to end, on the demo data:
 *
 *   npm run bench -- agents [--runs 20] [--parallel 100] [--throughput 60] [--concurrency 20] [--rounds 3] [--fast]
 *
 * 1. Latency: for every available agent, `runs` runs one after another: POST
 *    /api/v1/agents/{name}/runs (its input from bench/agent-inputs.ts) until the run rests:
 *    completed, or waiting_approval for an agent whose core proposes an action that waits for a
 *    person (reported per agent as `restsAt`). The bench watches agent_runs in the database every
 *    10 ms (resolution 10 ms) rather than polling the API. Goal: p95 under 2 s.
 * 2. Parallel: `parallel` runs, all agents round-robin, all started at once: all must rest
 *    without error.
 * 3. Throughput: core-mode runs per second (the agents round-robin, at most `concurrency` in
 *    flight) against a no-op workflow of the same shape (the same number of local and regular
 *    activities, the gather's in parallel; bench/noop-workflow.ts noopMixedWorkflow) on an
 *    in-process worker of the same Temporal server, interleaved in `rounds` rounds. Goal: ratio >= 0.5.
 * 4. The worker process's RSS before and after, and its peak.
 */
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { temporalConfig } from '../temporal.config';
import { benchInputFor } from './agent-inputs';
import { inPool, login, round1, sleep } from './booking-support';
import { peakRssMb, say, startStack, type BenchStack } from './stack';
import type { noopMixedWorkflow } from './noop-workflow';

const quietBundlerLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (message: string) => console.warn(message), error: (message: string) => console.error(message),
};

const RESTING = new Set(['completed', 'waiting_approval', 'failed']);

function stats(values: number[]) {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { n: s.length, p50: round1(at(0.5)), p95: round1(at(0.95)), max: round1(s[s.length - 1]), avg: round1(s.reduce((a, b) => a + b, 0) / s.length) };
}

/** Watches agent_runs: one query every 10 ms for every run still in flight. */
class RunWatcher {
  private readonly waiting = new Map<string, { resolve: (v: { status: string; error: string | null; at: number }) => void }>();
  private stopped = false;
  private loop: Promise<void>;
  constructor(private readonly stack: BenchStack) {
    this.loop = this.poll();
  }
  rest(id: string): Promise<{ status: string; error: string | null; at: number }> {
    return new Promise((resolve) => this.waiting.set(id, { resolve }));
  }
  private async poll() {
    while (!this.stopped) {
      if (this.waiting.size) {
        const rows: Array<{ id: string; status: string; error: string | null }> = await this.stack.knex('agent_runs').whereIn('id', [...this.waiting.keys()]).select('id', 'status', 'error');
        const at = performance.now();
        for (const r of rows) {
          if (!RESTING.has(r.status)) continue;
          this.waiting.get(r.id)?.resolve({ status: r.status, error: r.error, at });
          this.waiting.delete(r.id);
        }
      }
      await sleep(10);
    }
  }
  async stop() {
    this.stopped = true;
    await this.loop;
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      runs: { type: 'string', default: '20' },
      parallel: { type: 'string', default: '100' },
      throughput: { type: 'string', default: '60' },
      concurrency: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '3' },
      fast: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const runs = Number(o.runs);
  const parallel = Number(o.parallel);
  const throughputCount = Number(o.throughput);
  const concurrency = Number(o.concurrency);
  const rounds = Math.max(1, Number(o.rounds));

  if (!Runtime.instantiator) Runtime.install({ logger: new DefaultLogger('WARN') });
  const stack = await startStack({ worker: true, fast: o.fast });
  temporalConfig.taskQueuePrefix = stack.taskQueuePrefix;
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const watcher = new RunWatcher(stack);
  let noopWorker: Worker | undefined;
  let noopRunning: Promise<void> | undefined;
  let workerConnection: NativeConnection | undefined;
  try {
    const admin = await login(stack.baseUrl, 'admin@demo.test');
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` };
    const list = await (await fetch(`${stack.baseUrl}/api/v1/agents`, { headers })).json() as { data: Array<{ name: string; available: boolean }> };
    const agents = list.data.filter((a) => a.available).map((a) => a.name);
    if (!agents.length) throw new Error('no agent is available');
    say(`available agents: ${agents.join(', ')}`);
    const inputs = new Map<string, unknown>();
    for (const name of agents) inputs.set(name, await benchInputFor(name, stack.knex));

    /** Starts one run through the API and resolves when it rests; latency in ms. */
    const once = async (name: string): Promise<{ id: string; ms: number; status: string; error: string | null }> => {
      const t0 = performance.now();
      const res = await fetch(`${stack.baseUrl}/api/v1/agents/${name}/runs`, { method: 'POST', headers, body: JSON.stringify({ input: inputs.get(name) }) });
      const body = await res.json() as { id?: string; detail?: string };
      if (res.status !== 202 || !body.id) throw new Error(`${name}: POST runs answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      const rest = await watcher.rest(body.id);
      return { id: body.id, ms: rest.at - t0, status: rest.status, error: rest.error };
    };

    // 1. Latency per agent (2 warm-up runs each, not measured).
    const perAgent: Record<string, unknown> = {};
    const shapes = new Map<string, { local: number; activities: number; parallel: number }>();
    let worstP95 = 0;
    for (const name of agents) {
      for (let i = 0; i < 2; i++) await once(name);
      const ms: number[] = [];
      const statuses: Record<string, number> = {};
      let lastId = '';
      const errors: string[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await once(name);
        ms.push(r.ms);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status === 'failed') errors.push(r.error ?? 'failed');
        lastId = r.id;
      }
      // The run's shape, from its history (a completed run's last task, with its markers, may land just after agent_runs says so).
      const handle = client.workflow.getHandle(lastId);
      if (statuses.completed === runs) await handle.result();
      const history = await handle.fetchHistory();
      let local = 0;
      let activities = 0;
      let batch = 0;
      let widest = 0;
      for (const e of history.events ?? []) {
        if (e.markerRecordedEventAttributes) local++;
        if (e.activityTaskScheduledEventAttributes) {
          activities++;
          batch++;
          widest = Math.max(widest, batch);
        }
        if (e.workflowTaskCompletedEventAttributes) batch = 0;
      }
      shapes.set(name, { local, activities, parallel: widest });
      const s = stats(ms)!;
      worstP95 = Math.max(worstP95, s.p95);
      perAgent[name] = { ms: s, restsAt: statuses, errors: errors.slice(0, 3), shape: shapes.get(name) };
      say(`${name}: p50 ${s.p50} ms, p95 ${s.p95} ms, max ${s.max} ms; rests at ${JSON.stringify(statuses)}; ${local} local + ${activities} activities (${widest} at once)`);
    }

    // 2. All at once.
    const rssBefore = stack.rssOf(stack.pids.worker!);
    const t0 = performance.now();
    const all = await Promise.allSettled(Array.from({ length: parallel }, (_, i) => once(agents[i % agents.length])));
    const parallelMs = performance.now() - t0;
    const parallelFailed = all.filter((r) => r.status === 'rejected' || r.value.status === 'failed');
    const parallelLatency = stats(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.ms] : [])));
    say(`${parallel} runs at once: ${parallelFailed.length} failed, all rested in ${round1(parallelMs)} ms; latency ${JSON.stringify(parallelLatency)}`);

    // 3. Throughput against a no-op workflow of the same shape.
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./noop-workflow'), logger: quietBundlerLogger });
    workerConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    const noopQueue = `${stack.taskQueuePrefix}noop`;
    noopWorker = await Worker.create({
      connection: workerConnection, namespace: temporalConfig.namespace, taskQueue: noopQueue, workflowBundle: bundle,
      activities: { noop: async (step: number) => step },
    });
    noopRunning = noopWorker.run();
    const tag = Date.now().toString(36);
    const noop = (r: number) => async (i: number) => {
      const shape = shapes.get(agents[i % agents.length])!;
      await client.workflow.execute<typeof noopMixedWorkflow>('noopMixedWorkflow', { taskQueue: noopQueue, workflowId: `noop-${tag}-${r}-${i}`, args: [shape] });
    };
    await inPool(20, 10, noop(-1));
    const per = Array.from({ length: rounds }, (_, r) => Math.floor(throughputCount / rounds) + (r < throughputCount % rounds ? 1 : 0));
    let agentMs = 0;
    let noopMs = 0;
    let agentFailed = 0;
    for (let r = 0; r < rounds; r++) {
      let a = performance.now();
      await inPool(per[r], concurrency, async (i) => {
        const res = await once(agents[i % agents.length]);
        if (res.status === 'failed') agentFailed++;
      });
      agentMs += performance.now() - a;
      a = performance.now();
      await inPool(per[r], concurrency, noop(r));
      noopMs += performance.now() - a;
      say(`round ${r + 1}/${rounds}: ${per[r]} agent runs and ${per[r]} no-op workflows`);
    }
    const agentRate = round1((throughputCount / agentMs) * 1000);
    const noopRate = round1((throughputCount / noopMs) * 1000);
    const ratio = Math.round((agentRate / noopRate) * 100) / 100;
    say(`core-mode runs/s ${agentRate}, no-op/s ${noopRate}, ratio ${ratio} (goal >= 0.5)`);

    const rssAfter = stack.rssOf(stack.pids.worker!);
    return {
      agents,
      runsPerAgent: runs,
      latency: perAgent,
      worstP95Ms: worstP95,
      goalP95: { ms: 2000, met: worstP95 < 2000 },
      parallel: { runs: parallel, failed: parallelFailed.length, ms: round1(parallelMs), latency: parallelLatency, errors: parallelFailed.slice(0, 3).map((r) => (r.status === 'rejected' ? String(r.reason) : r.value.error)) },
      throughput: { runs: throughputCount, concurrency, rounds, agentRunsPerSecond: agentRate, noopPerSecond: noopRate, ratio, failed: agentFailed, goal: { ratio: 0.5, met: ratio >= 0.5 } },
      workerRssMb: { beforeParallel: rssBefore, after: rssAfter, peak: peakRssMb(stack.pids.worker!) },
      postgres: process.env.DATABASE_URL ? 'external' : o.fast ? 'embedded-fast' : 'embedded-durable',
      note: 'latency: POST /api/v1/agents/{name}/runs until agent_runs says completed (or waiting_approval when the core proposes an action that waits for a person), watched every 10 ms. No-op: client and worker in the bench process.',
    };
  } finally {
    await watcher.stop();
    if (noopWorker && noopWorker.getState() === 'RUNNING') noopWorker.shutdown();
    await noopRunning?.catch(() => undefined);
    await workerConnection?.close().catch(() => undefined);
    await connection.close();
    await stack.stop();
  }
}
