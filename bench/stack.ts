/**
 * An isolated stack for one bench run, as production-like as one machine allows:
 * PostgreSQL (embedded in a temp folder with durable settings, or a fresh database on the server
 * DATABASE_URL names), Temporal (an in-memory dev server, or TEMPORAL_ADDRESS), migrations, the
 * demo seed, and the API (plus optionally the worker) as CHILD PROCESSES started exactly as
 * `npm start` starts them, so what we measure is their own CPU and memory, not the bench's.
 *
 * Also the /proc helpers the benches use to read RSS and CPU time of processes.
 */
import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { createKnex, migrateLatest } from '../platform/db';
import { freePort, startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../platform/dev-services';
import { seedDemo } from '../scripts/demo-seed';

export const repoRoot = path.resolve(__dirname, '..');

/** Progress for humans: stderr only, stdout carries the result line. */
export function say(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// /proc helpers (Linux)

function readProc(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // gone, or not ours to read
  }
}

function statusKb(pid: number, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readProc(pid, 'status') ?? '');
  return match ? Number(match[1]) : undefined;
}

const mb = (kb: number | undefined) => (kb === undefined ? undefined : Math.round((kb / 1024) * 10) / 10);

/** Resident set size now, in MB (VmRSS). */
export function rssMb(pid: number): number | undefined {
  return mb(statusKb(pid, 'VmRSS'));
}

/** The highest resident set size the process ever had, in MB (VmHWM). */
export function peakRssMb(pid: number): number | undefined {
  return mb(statusKb(pid, 'VmHWM'));
}

/** Proportional set size in MB: shared pages divided among their sharers, so sums over processes are honest. */
export function pssMb(pid: number): number | undefined {
  const match = /^Pss:\s+(\d+) kB/m.exec(readProc(pid, 'smaps_rollup') ?? '');
  return match ? mb(Number(match[1])) : undefined;
}

const CLOCK_TICKS = 100; // USER_HZ; `getconf CLK_TCK` is 100 on every Linux we run on

/** Parsed /proc/<pid>/stat: the comm field may contain spaces and parentheses, so split after the last ')'. */
function stat(pid: number): { comm: string; ppid: number; pgrp: number; cpuSeconds: number } | undefined {
  const raw = readProc(pid, 'stat');
  if (!raw) return undefined;
  const close = raw.lastIndexOf(')');
  const comm = raw.slice(raw.indexOf('(') + 1, close);
  const f = raw.slice(close + 2).split(' '); // f[0] is field 3 (state)
  return { comm, ppid: Number(f[1]), pgrp: Number(f[2]), cpuSeconds: (Number(f[11]) + Number(f[12])) / CLOCK_TICKS };
}

/** User + system CPU seconds the process has used so far (not its children). */
export function cpuSeconds(pid: number): number | undefined {
  return stat(pid)?.cpuSeconds;
}

export function cmdlineOf(pid: number): string {
  return (readProc(pid, 'cmdline') ?? '').split('\0').join(' ').trim();
}

export interface ProcInfo { pid: number; ppid: number; pgrp: number; comm: string; cmdline: string }

export function allProcesses(): ProcInfo[] {
  const list: ProcInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const s = stat(pid);
    if (s) list.push({ pid, ppid: s.ppid, pgrp: s.pgrp, comm: s.comm, cmdline: cmdlineOf(pid) });
  }
  return list;
}

/** The process and all its descendants. */
export function processTree(rootPid: number): ProcInfo[] {
  const all = allProcesses();
  const byParent = new Map<number, ProcInfo[]>();
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const root = all.find((p) => p.pid === rootPid);
  if (!root) return [];
  const out: ProcInfo[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(byParent.get(p.pid) ?? []));
  }
  return out;
}

/** Sum of a measure over processes, rounded to 0.1; undefined when none could be read. */
export function sumOf(pids: number[], measure: (pid: number) => number | undefined): number | undefined {
  const values = pids.map(measure).filter((v): v is number => v !== undefined);
  return values.length ? Math.round(values.reduce((a, b) => a + b, 0) * 10) / 10 : undefined;
}

export function postmasterPid(pgDataDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(pgDataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A temp folder the embedded PostgreSQL (which runs as the postgres user when we are root) can enter. */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// The stack

export interface StackOptions {
  /** Also run the worker process (workers/main.ts). Default false. */
  worker?: boolean;
  /** Embedded PostgreSQL without fsync/synchronous_commit (tests' setting). Default false: durable, as in production. */
  fast?: boolean;
  /** Extra environment for the API and worker (e.g. LOG_LEVEL, DATABASE_POOL_MAX). */
  env?: Record<string, string | undefined>;
  /** Seed the demo data. Default true. */
  seed?: boolean;
  /** Extra node flags for the API and worker, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[];
  /** Run this file instead of api/main.ts (relative to the repo root), e.g. a what-if in bench/experiments/. */
  apiEntry?: string;
  /** Run this file instead of workers/main.ts (relative to the repo root), e.g. a what-if in bench/experiments/. */
  workerEntry?: string;
  /**
   * With `worker`: build the workflow bundle first in a short-lived process and give the worker its
   * path (WORKFLOW_BUNDLE_PATH), as `npm start` and the production image do. Default true; false:
   * the worker bundles in its own process.
   */
  prebuiltBundle?: boolean;
  /** Server logs (PostgreSQL, Temporal) to this function; BENCH_VERBOSE=1 sends them to stderr. */
  log?: (line: string) => void;
}

export interface BenchStack {
  baseUrl: string;
  databaseUrl: string;
  temporalAddress: string;
  taskQueuePrefix: string;
  dataDir: string;
  /** A small pool for the bench's own setup and checks. */
  knex: Knex;
  pids: { api: number; worker?: number; temporal?: number; postgres?: number };
  /** VmRSS in MB. */
  rssOf(pid: number): number | undefined;
  /** The last lines the API (or worker) wrote. */
  logTail(which?: 'api' | 'worker', lines?: number): string;
  stop(): Promise<void>;
}

const active = new Set<BenchStack>();
const pendingCleanups = new Set<() => Promise<void>>();

/** Stops every stack still running (and any stack half-way through starting). Safe to call twice. */
export async function stopAllStacks(): Promise<void> {
  await Promise.all([...active].map((s) => s.stop()));
  await Promise.all([...pendingCleanups].map((c) => c()));
}

/** Something stopAllStacks() must also undo (e.g. processes a bench started itself); returns the unregister function. */
export function registerCleanup(fn: () => Promise<void>): () => void {
  pendingCleanups.add(fn);
  return () => void pendingCleanups.delete(fn);
}

function stopChild(child: ChildProcess, graceMs = 10000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function waitForHealth(baseUrl: string, options: { timeoutMs?: number; intervalMs?: number; failed?: () => string | undefined } = {}): Promise<number> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 90000);
  let last = '';
  for (;;) {
    const failure = options.failed?.();
    if (failure) throw new Error(failure);
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) {
        await res.arrayBuffer();
        return Date.now() - started;
      }
      last = `HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${baseUrl}/health did not answer 200 within ${options.timeoutMs ?? 90000} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

export async function startStack(options: StackOptions = {}): Promise<BenchStack> {
  const id = crypto.randomBytes(4).toString('hex');
  const log = options.log ?? (process.env.BENCH_VERBOSE ? (line: string) => process.stderr.write(`${line}\n`) : undefined);
  const dataDir = makeTempDir(`spirit-bench-${id}-`);
  const taskQueuePrefix = `bench-${id}-`;
  const cleanups: Array<{ name: string; fn: () => Promise<unknown> }> = [];
  const children: { api?: ChildProcess; worker?: ChildProcess } = {};
  let stopped: Promise<void> | undefined;

  const cleanup = (): Promise<void> => {
    stopped ??= (async () => {
      for (const { name, fn } of cleanups.reverse()) {
        await fn().catch((err) => say(`stopping ${name} failed: ${(err as Error).message}`));
      }
      cleanups.length = 0;
      if (process.env.BENCH_KEEP) say(`kept ${dataDir}`);
      else fs.rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  pendingCleanups.add(cleanup);

  try {
    const t0 = Date.now();
    // PostgreSQL and Temporal start in parallel.
    const pgDataDir = path.join(dataDir, 'postgres');
    const provideDatabase = async (): Promise<string> => {
      const external = process.env.DATABASE_URL;
      if (!external) {
        const pg: RunningService & { port: number } = await startEmbeddedPostgres({
          dataDir: pgDataDir, port: 0, database: 'spirit', fast: options.fast ?? false, log,
        });
        cleanups.push({ name: 'PostgreSQL', fn: () => pg.stop() });
        return pg.url;
      }
      const admin = createKnex(external, 1);
      const db = `spirit_bench_${id}`;
      await admin.raw(`create database "${db}"`);
      cleanups.push({
        name: `database ${db}`,
        fn: async () => {
          try {
            await admin.raw(`drop database if exists "${db}" with (force)`);
          } finally {
            await admin.destroy();
          }
        },
      });
      const url = new URL(external);
      url.pathname = `/${db}`;
      return url.toString();
    };
    // As npm start does: the workflow bundle is built by a short-lived process, beside the servers.
    const bundlePath = options.worker && (options.prebuiltBundle ?? true) ? path.join(dataDir, 'workflow-bundle.js') : undefined;
    const bundled = bundlePath
      ? new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/bundle-workflows.ts'), bundlePath], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bundling the workflows failed (exit ${code}): ${err}`))));
      })
      : Promise.resolve();
    bundled.catch(() => undefined); // awaited below, after the servers' cleanups are registered
    const provideTemporal = async (): Promise<{ address: string; pid?: number }> => {
      if (process.env.TEMPORAL_ADDRESS) return { address: process.env.TEMPORAL_ADDRESS };
      const temporal = await startTemporalDevServer({ headless: true, log });
      cleanups.push({ name: 'Temporal dev server', fn: () => temporal.stop() });
      return { address: temporal.address, pid: temporal.pid };
    };
    // allSettled: when one fails, the other's cleanup is still registered before we unwind.
    const [dbResult, temporalResult] = await Promise.allSettled([provideDatabase(), provideTemporal()]);
    if (dbResult.status === 'rejected') throw dbResult.reason;
    if (temporalResult.status === 'rejected') throw temporalResult.reason;
    const databaseUrl = dbResult.value;
    const temporal = temporalResult.value;
    say(`PostgreSQL${process.env.DATABASE_URL ? ' (external)' : options.fast ? ' (embedded, fast)' : ' (embedded, durable)'} and Temporal${temporal.pid ? ' (dev server, in memory)' : ' (external)'} up in ${Date.now() - t0} ms`);
    if (bundlePath) {
      await bundled;
      say(`workflow bundle built for the worker (${Date.now() - t0} ms)`);
    }

    const knex = createKnex(databaseUrl, 4);
    cleanups.push({ name: 'bench pool', fn: () => knex.destroy() });
    await migrateLatest(knex);
    if (options.seed ?? true) {
      const seeded = await seedDemo(knex);
      // Planner statistics, as autovacuum would have gathered in production: without them every
      // freshly seeded table looks empty to the planner (rows=1 estimates).
      await knex.raw('analyze');
      say(`migrated, seeded and analyzed: ${JSON.stringify(seeded)} (${Date.now() - t0} ms)`);
    }

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE_PREFIX: taskQueuePrefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: baseUrl,
      LOG_LEVEL: 'warn',
      SPIRIT_DATA_DIR: dataDir,
      // NODE_ENV=production would demand every production secret; the API only needs the JWT key.
      JWT_SECRET: crypto.randomBytes(36).toString('base64url'), // 48 characters
      // The hold and booking benches hold hundreds a second as one customer; production limits that per user.
      RATE_LIMIT_HOLDS_PER_MINUTE: '0',
      // ... and pay hundreds as that customer, with one test card, from one address: FraudGuardian's velocity signals would send them all to review.
      FRAUD_RULES: JSON.stringify({ velocity: { maxPerCustomer: 1_000_000, maxPerCard: 1_000_000, maxPerIp: 1_000_000, declinesAllowed: 1_000_000 } }),
    };
    delete env.NODE_ENV;
    if (bundlePath) env.WORKFLOW_BUNDLE_PATH = bundlePath;
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }

    const logFiles = { api: path.join(dataDir, 'api.log'), worker: path.join(dataDir, 'worker.log') };
    const launch = (name: 'api' | 'worker', entry: string) => {
      // Logs go to a file, not a pipe into this process: reading them would cost the bench CPU.
      const fd = fs.openSync(logFiles[name], 'a');
      const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', path.join(repoRoot, entry)], {
        cwd: repoRoot, env: { ...env, SPIRIT_SERVICE: name }, stdio: ['ignore', fd, fd],
      });
      fs.closeSync(fd);
      children[name] = child;
      cleanups.push({ name, fn: () => stopChild(child) });
      return child;
    };
    const exitedEarly = () => {
      for (const name of ['api', 'worker'] as const) {
        const c = children[name];
        if (c && (c.exitCode !== null || c.signalCode !== null)) {
          return `the ${name} process exited (code ${c.exitCode}, signal ${c.signalCode}):\n${tail(logFiles[name], 30)}`;
        }
      }
      return undefined;
    };
    if (options.worker) launch('worker', options.workerEntry ?? 'workers/main.ts');
    const api = launch('api', options.apiEntry ?? 'api/main.ts');
    const healthyMs = await waitForHealth(baseUrl, { failed: exitedEarly });
    say(`API pid ${api.pid} healthy on ${baseUrl} ${healthyMs} ms after spawn${options.worker ? `, worker pid ${children.worker!.pid}` : ''}`);

    const stack: BenchStack = {
      baseUrl,
      databaseUrl,
      temporalAddress: temporal.address,
      taskQueuePrefix,
      dataDir,
      knex,
      pids: {
        api: api.pid!,
        worker: children.worker?.pid,
        temporal: temporal.pid,
        postgres: process.env.DATABASE_URL ? undefined : postmasterPid(pgDataDir),
      },
      rssOf: rssMb,
      logTail: (which = 'api', lines = 30) => tail(logFiles[which], lines),
      stop: async () => {
        active.delete(stack);
        await cleanup();
        pendingCleanups.delete(cleanup);
      },
    };
    active.add(stack);
    return stack;
  } catch (err) {
    await cleanup();
    pendingCleanups.delete(cleanup);
    throw err;
  }
}

/** Runs fn with a stack and always stops the stack afterwards. */
export async function withStack<T>(options: StackOptions, fn: (stack: BenchStack) => Promise<T>): Promise<T> {
  const stack = await startStack(options);
  try {
    return await fn(stack);
  } finally {
    await stack.stop();
  }
}
