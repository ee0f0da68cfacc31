/**
 * Shared by the campaign benches (campaign-sendgrid, campaign-smtp); not a bench itself.
 *
 * - A stack without a worker (bench/stack.ts), plus the workflow bundle built beside it, and
 *   worker CHILD processes of our own (workers/main.ts, WORKER_TASK_QUEUES=marketing), one per
 *   measured run, each with its own task-queue prefix and provider environment.
 * - An audience made in SQL (generate_series): contacts with email consent and a tag, the
 *   segment on that tag; a marketing template (MJML with {{unsubscribe_url}}); a campaign row.
 * - One measured run: the campaign workflow started with a Temporal client on the run's queue,
 *   awaited to its end ('sent'); worker VmRSS sampled every 500 ms; CPU by process; the
 *   workflow's history summarized (resolve, per-batch activity time, gaps between batches);
 *   PostgreSQL statements slower than --slow-ms seen during the run (log_min_duration_statement).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common';
import type { Knex } from 'knex';
import { campaignWorkflowId } from '../workflows/campaign-messages';
import { cpuMsPer, cpuPercent, cpuSnapshot, percentiles, round1, summarizeProfiles } from './booking-support';
import { makeTempDir, peakRssMb, registerCleanup, repoRoot, rssMb, say, startStack, type BenchStack } from './stack';

export const MARKETING_MJML = `<mjml><mj-body><mj-section><mj-column>
<mj-text font-size="22px">Hola {{first_name}}, autumn in Andalusia</mj-text>
<mj-text>${'Alhambra at sunset, tapas in the Albaicín, a day in the Alpujarras. '.repeat(12)}</mj-text>
<mj-button href="https://spirit.example/tours/granada">See the tours</mj-button>
<mj-text><a href="https://spirit.example/tours/seville">Seville</a> · <a href="https://spirit.example/tours/cordoba">Córdoba</a></mj-text>
<mj-text font-size="11px"><a href="{{unsubscribe_url}}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>`;

// ---------------------------------------------------------------------------------------------
// PostgreSQL slow statements (log_min_duration_statement), from the server's log

export class SlowStatements {
  active = false;
  private readonly byKey = new Map<string, { count: number; totalMs: number; maxMs: number }>();
  feed(line: string): void {
    if (!this.active || !line.includes('duration:')) return;
    const re = /duration: ([\d.]+) ms\s+(?:(?:execute|bind|parse) [^:]*|statement): /g;
    for (let m = re.exec(line); m; m = re.exec(line)) {
      const rest = line.slice(m.index + m[0].length, m.index + m[0].length + 400).split(/\bDETAIL:|\bLOG:|\bSTATEMENT:/)[0];
      const key = rest.replace(/\s+/g, ' ').trim().slice(0, 140);
      const e = this.byKey.get(key) ?? { count: 0, totalMs: 0, maxMs: 0 };
      const ms = Number(m[1]);
      e.count++;
      e.totalMs += ms;
      e.maxMs = Math.max(e.maxMs, ms);
      this.byKey.set(key, e);
    }
  }
  reset(): void {
    this.byKey.clear();
  }
  top(n = 8) {
    return [...this.byKey.entries()].sort((a, b) => b[1].totalMs - a[1].totalMs).slice(0, n)
      .map(([sql, e]) => ({ sql, count: e.count, totalMs: Math.round(e.totalMs), avgMs: round1(e.totalMs / e.count), maxMs: round1(e.maxMs) }));
  }
}

// ---------------------------------------------------------------------------------------------
// Stack + bundle + worker children

export interface CampaignBench {
  stack: BenchStack;
  client: Client;
  connection: Connection;
  bundlePath: string;
  jwtSecret: string;
  slow: SlowStatements;
  databaseName: string;
  stop(): Promise<void>;
}

function buildBundle(out: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/bundle-workflows.ts'), out], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bundling the workflows failed (exit ${code}): ${err}`))));
  });
}

export async function startCampaignBench(options: { fast?: boolean }): Promise<CampaignBench> {
  const bundleDir = makeTempDir('spirit-bench-bundle-');
  const unregister = registerCleanup(async () => fs.rmSync(bundleDir, { recursive: true, force: true }));
  const bundlePath = path.join(bundleDir, 'workflow-bundle.js');
  const t0 = Date.now();
  const bundled = buildBundle(bundlePath);
  bundled.catch(() => undefined);
  const slow = new SlowStatements();
  const verbose = !!process.env.BENCH_VERBOSE;
  const jwtSecret = crypto.randomBytes(36).toString('base64url');
  const stack = await startStack({
    fast: options.fast, seed: false, env: { JWT_SECRET: jwtSecret },
    log: (line) => {
      slow.feed(line);
      if (verbose) process.stderr.write(`${line}\n`);
    },
  });
  try {
    await bundled;
  } catch (err) {
    await stack.stop();
    throw err;
  }
  say(`workflow bundle ready (${Date.now() - t0} ms after start)`);
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const databaseName = new URL(stack.databaseUrl).pathname.slice(1);
  return {
    stack, client, connection, bundlePath, jwtSecret, slow, databaseName,
    stop: async () => {
      await connection.close().catch(() => undefined);
      await stack.stop();
      fs.rmSync(bundleDir, { recursive: true, force: true });
      unregister();
    },
  };
}

export interface WorkerChild {
  pid: number;
  child: ChildProcess;
  prefix: string;
  logFile: string;
  startupMs: number;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

function tailOf(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** workers/main.ts as a child process, as `npm start` runs it (prebuilt bundle), on queue `${prefix}marketing` only. */
export async function startWorker(bench: CampaignBench, name: string, env: Record<string, string>, nodeArgs: string[] = [], entry = 'workers/main.ts'): Promise<WorkerChild> {
  const { stack } = bench;
  const prefix = `${stack.taskQueuePrefix}${name}-`;
  const readyFile = path.join(stack.dataDir, `worker-${name}.ready`);
  const logFile = path.join(stack.dataDir, `worker-${name}.log`);
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_TASK_QUEUE_PREFIX: prefix,
    PUBLIC_URL: stack.baseUrl,
    SPIRIT_DATA_DIR: stack.dataDir,
    JWT_SECRET: bench.jwtSecret,
    LOG_LEVEL: 'warn',
    WORKFLOW_BUNDLE_PATH: bench.bundlePath,
    WORKER_TASK_QUEUES: 'marketing',
    SPIRIT_SERVICE: 'worker',
    SPIRIT_READY_FILE: readyFile,
    ...env,
  };
  delete childEnv.NODE_ENV;
  const fd = fs.openSync(logFile, 'a');
  const t0 = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.resolve(repoRoot, entry)], { cwd: repoRoot, env: childEnv, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const stop = (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
  const unregister = registerCleanup(stop);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      unregister();
      throw new Error(`the worker exited before it was ready (code ${child.exitCode}, signal ${child.signalCode}):\n${tailOf(logFile, 30)}`);
    }
    if (fs.existsSync(readyFile)) break;
    if (Date.now() - t0 > 120_000) {
      await stop();
      unregister();
      throw new Error(`the worker was not ready within 120 s:\n${tailOf(logFile, 30)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!, child, prefix, logFile, startupMs: Date.now() - t0,
    logTail: (lines = 30) => tailOf(logFile, lines),
    stop: async () => {
      await stop();
      unregister();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Data

/** `count` contacts (tag `tag`), email consent granted for all, and the segment on the tag; in SQL. */
export async function createAudience(knex: Knex, count: number): Promise<{ tag: string; segmentId: string; ms: number }> {
  const t0 = Date.now();
  const tag = `bench${crypto.randomBytes(3).toString('hex')}`;
  await knex.transaction(async (trx) => {
    await trx.raw(`insert into contacts (email, first_name, last_name, language, country, timezone, source, tags)
      select ? || '.' || i || '@example.com', 'Guest' || i, (array['García','López','Smith','Cohen','Haddad'])[1 + i % 5],
        case when i % 3 = 0 then 'en' else 'es' end, (array['ES','MX','US','AE','IL'])[1 + i % 5],
        (array['Europe/Madrid','America/Mexico_City','America/New_York','Asia/Dubai','Asia/Jerusalem'])[1 + i % 5], 'import', array[?]
      from generate_series(1, ?) i`, [tag, tag, count]);
    await trx.raw(`insert into contact_consents (contact_id, channel, status, source)
      select id, 'email', 'granted', 'bench' from contacts where tags @> array[?]::text[]`, [tag]);
  });
  const [segment] = await knex('segments').insert({ name: tag, rules: JSON.stringify({ field: 'tag', op: 'has', value: tag }) }).returning('id');
  await knex.raw('analyze contacts');
  await knex.raw('analyze contact_consents');
  return { tag, segmentId: segment.id as string, ms: Date.now() - t0 };
}

export async function createTemplate(knex: Knex): Promise<string> {
  const [t] = await knex('email_templates').insert({
    name: 'Bench autumn', kind: 'marketing', language: 'es', subject: 'Autumn in Andalusia',
    mjml: MARKETING_MJML, text: 'Hola {{first_name}}: https://spirit.example/tours/granada\nBaja: {{unsubscribe_url}}',
  }).returning('id');
  return t.id as string;
}

export async function createCampaign(knex: Knex, input: { segmentId: string; templateId: string; provider: string; ratePerSecond: number; name: string }): Promise<string> {
  const [c] = await knex('campaigns').insert({
    name: input.name, segment_id: input.segmentId, variants: JSON.stringify([{ name: 'A', templateId: input.templateId }]), provider: input.provider,
    rate_per_second: input.ratePerSecond, status: 'scheduled', scheduled_at: new Date(),
  }).returning('id');
  return c.id as string;
}

// ---------------------------------------------------------------------------------------------
// The workflow's history: where the time went

export async function historySummary(client: Client, workflowId: string, firstRunId: string) {
  const acts: Array<{ type: string; scheduled: number; started?: number; completed?: number; attempt?: number }> = [];
  let runId: string | undefined = firstRunId;
  let runs = 0;
  let events = 0;
  let failedActivities = 0;
  let workflowStart = 0;
  let workflowEnd = 0;
  while (runId) {
    runs++;
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runId = undefined;
    const byId = new Map<string, (typeof acts)[number]>();
    for (const e of history.events ?? []) {
      events++;
      const t = tsToMs(e.eventTime);
      if (!workflowStart) workflowStart = t;
      workflowEnd = t;
      if (e.activityTaskScheduledEventAttributes) {
        const a = { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', scheduled: t };
        acts.push(a);
        byId.set(String(e.eventId), a);
      } else if (e.activityTaskStartedEventAttributes) {
        const a = byId.get(String(e.activityTaskStartedEventAttributes.scheduledEventId));
        if (a) {
          a.started = t;
          a.attempt = e.activityTaskStartedEventAttributes.attempt ?? 1;
        }
      } else if (e.activityTaskCompletedEventAttributes) {
        const a = byId.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId));
        if (a) a.completed = t;
      } else if (e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes) {
        failedActivities++;
      } else if (e.workflowExecutionContinuedAsNewEventAttributes) {
        runId = e.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? undefined;
      }
    }
  }
  const batches = acts.filter((a) => a.type === 'sendBatch' && a.completed);
  const resolve = acts.find((a) => a.type === 'resolveAudience');
  const exec = batches.map((a) => a.completed! - (a.started ?? a.scheduled));
  const queue = batches.map((a) => (a.started ?? a.scheduled) - a.scheduled);
  const gaps: number[] = [];
  for (let i = 1; i < batches.length; i++) gaps.push(batches[i].scheduled - batches[i - 1].completed!);
  const sendPhaseMs = batches.length ? batches.at(-1)!.completed! - batches[0].scheduled : 0;
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  return {
    runs, events, failedActivities, retriedActivities: acts.filter((a) => (a.attempt ?? 1) > 1).length,
    workflowMs: workflowEnd - workflowStart,
    resolveAudienceMs: resolve?.completed && resolve.started ? resolve.completed - resolve.started : undefined,
    beforeFirstBatchMs: batches.length ? batches[0].scheduled - workflowStart : undefined,
    sendBatch: {
      count: batches.length,
      sendPhaseMs,
      execMs: percentiles(exec),
      // schedule -> start: the activity task waiting in its queue for the worker to poll it
      queueMs: percentiles(queue),
      // completion of one batch -> scheduling of the next: a workflow task round trip
      gapMs: percentiles(gaps),
      shareOfSendPhase: { activityExec: sendPhaseMs ? round1((sum(exec) / sendPhaseMs) * 100) : undefined, queue: sendPhaseMs ? round1((sum(queue) / sendPhaseMs) * 100) : undefined, gaps: sendPhaseMs ? round1((sum(gaps) / sendPhaseMs) * 100) : undefined },
    },
    afterLastBatchMs: batches.length ? workflowEnd - batches.at(-1)!.completed! : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// One measured run

export interface RunResult {
  seconds: number;
  messagesPerSecond: number;
  sendPhase: { seconds: number; messagesPerSecond: number };
  counts: Record<string, number>;
  worker: { startupMs: number; rssIdleMb?: number; rssPeakSampledMb: number; rssHighWaterMb?: number; rssAfterMb?: number; rssTimeline: Array<[number, number]> };
  cpuPercentOfOneCore: ReturnType<typeof cpuPercent>;
  cpuMsPerThousandMessages: ReturnType<typeof cpuMsPer>;
  history: Awaited<ReturnType<typeof historySummary>>;
  slowStatements: ReturnType<SlowStatements['top']>;
  workerCpuProfile?: unknown;
}

export async function measureCampaign(bench: CampaignBench, input: {
  runName: string;
  campaignId: string;
  expected: number;
  workerEnv: Record<string, string>;
  timeoutSeconds: number;
  slowMs: number;
  cpuProf?: boolean;
  /** What-if: another entry than workers/main.ts (relative to the repo root, or absolute). */
  workerEntry?: string;
}): Promise<RunResult> {
  const { stack, client, slow } = bench;
  const profDir = input.cpuProf ? makeTempDir('spirit-bench-cpuprof-') : undefined;
  // New sessions (the worker's pool) log statements slower than slowMs.
  await stack.knex.raw(`alter database "${bench.databaseName}" set log_min_duration_statement = ${Math.max(0, Math.floor(input.slowMs))}`);
  const worker = await startWorker(bench, input.runName, input.workerEnv, profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [], input.workerEntry);
  say(`[${input.runName}] worker pid ${worker.pid} ready in ${worker.startupMs} ms (queue ${worker.prefix}marketing)`);
  try {
    await new Promise((r) => setTimeout(r, 1500)); // let it settle after start
    const rssIdleMb = rssMb(worker.pid);
    const withWorker = { ...stack, pids: { ...stack.pids, worker: worker.pid } } as BenchStack;

    let rssPeak = rssIdleMb ?? 0;
    const timeline: Array<[number, number]> = [];
    const tStart = performance.now();
    let ticks = 0;
    const sampler = setInterval(() => {
      const r = rssMb(worker.pid);
      if (r === undefined) return;
      rssPeak = Math.max(rssPeak, r);
      if (ticks++ % 10 === 0) timeline.push([round1((performance.now() - tStart) / 1000), r]); // every 5 s
    }, 500);

    slow.reset();
    slow.active = true;
    const before = cpuSnapshot(withWorker);
    const workflowId = campaignWorkflowId(input.campaignId);
    let seconds: number;
    let firstRunId = '';
    try {
      const handle = await client.workflow.start('campaignWorkflow', { workflowId, taskQueue: `${worker.prefix}marketing`, args: [{ campaignId: input.campaignId }] });
      let timer: NodeJS.Timeout | undefined;
      const exited = new Promise<never>((_, reject) => worker.child.once('exit', (code, signal) => reject(new Error(`the worker exited mid-run (code ${code}, signal ${signal}):\n${worker.logTail()}`))));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(async () => {
          const c = await stack.knex('campaign_recipients').where({ campaign_id: input.campaignId }).groupBy('status').select('status', stack.knex.raw('count(*)::int as n')).catch(() => []);
          reject(new Error(`the campaign did not finish within ${input.timeoutSeconds} s (recipients by status: ${JSON.stringify(c)}); worker log:\n${worker.logTail()}`));
        }, input.timeoutSeconds * 1000);
      });
      try {
        await Promise.race([handle.result(), exited, timeout]);
      } finally {
        clearTimeout(timer);
        exited.catch(() => undefined);
      }
      seconds = (performance.now() - tStart) / 1000;
      firstRunId = handle.firstExecutionRunId;
    } finally {
      clearInterval(sampler);
      slow.active = false;
    }
    const after = cpuSnapshot(withWorker);
    const rssAfterMb = rssMb(worker.pid);
    const rssHighWaterMb = peakRssMb(worker.pid);

    const campaign = await stack.knex('campaigns').where({ id: input.campaignId }).first('status', 'started_at', 'finished_at');
    if (campaign.status !== 'sent') throw new Error(`campaign ${input.campaignId} ended ${campaign.status}, not sent`);
    const counts = Object.fromEntries((await stack.knex('campaign_recipients').where({ campaign_id: input.campaignId }).groupBy('status')
      .select('status', stack.knex.raw('count(*)::int as n'))).map((r) => [r.status, r.n]));
    const sendSeconds = (new Date(campaign.finished_at).getTime() - new Date(campaign.started_at).getTime()) / 1000;
    const history = await historySummary(client, workflowId, firstRunId);
    const result: RunResult = {
      seconds: round1(seconds),
      messagesPerSecond: Math.round(input.expected / seconds),
      sendPhase: { seconds: round1(sendSeconds), messagesPerSecond: Math.round(input.expected / sendSeconds) },
      counts,
      worker: { startupMs: worker.startupMs, rssIdleMb, rssPeakSampledMb: round1(Math.max(rssPeak, rssAfterMb ?? 0)), rssHighWaterMb, rssAfterMb, rssTimeline: timeline },
      cpuPercentOfOneCore: cpuPercent(before, after, 'benchInclServer'),
      cpuMsPerThousandMessages: cpuMsPer(before, after, input.expected / 1000),
      history,
      slowStatements: slow.top(),
    };
    await worker.stop();
    if (profDir) {
      result.workerCpuProfile = summarizeProfiles(profDir, { worker: worker.pid }, 15).map((p) => ({
        process: p.process, thread: p.thread, sampledMs: p.sampledMs, idleMs: p.idleMs, byCategory: p.byCategory.slice(0, 10), topFunctions: p.topFunctions.slice(0, 15),
      }));
      fs.rmSync(profDir, { recursive: true, force: true });
    }
    return result;
  } finally {
    await worker.stop();
    await stack.knex.raw(`alter database "${bench.databaseName}" reset log_min_duration_statement`).catch(() => undefined);
  }
}

/** A comma-separated option as numbers: "1000,2000" → [1000, 2000]. */
export function numberList(value: string | undefined, name: string): number[] {
  const list = String(value ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!list.length || list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--${name} must be positive integers, comma-separated (got ${value})`);
  return list;
}

export function logRun(label: string, r: RunResult): void {
  say(`[${label}] ${r.messagesPerSecond} messages/s over ${r.seconds} s (send phase ${r.sendPhase.messagesPerSecond}/s over ${r.sendPhase.seconds} s); `
    + `worker RSS idle ${r.worker.rssIdleMb} MB, peak ${r.worker.rssPeakSampledMb} MB (HWM ${r.worker.rssHighWaterMb} MB); `
    + `batches ${r.history.sendBatch.count}, exec p50 ${r.history.sendBatch.execMs?.p50} ms, gap p50 ${r.history.sendBatch.gapMs?.p50} ms, resolve ${r.history.resolveAudienceMs} ms`);
  say(`[${label}] CPU (% of one core): ${JSON.stringify(r.cpuPercentOfOneCore)}`);
  for (const s of r.slowStatements.slice(0, 5)) say(`[${label}]   slow: ${s.count}× avg ${s.avgMs} ms max ${s.maxMs} ms: ${s.sql}`);
}
