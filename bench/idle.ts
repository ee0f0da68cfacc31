/**
 * `npm start` as a user runs it: time from launch to a healthy /health, cold (fresh data folder:
 * initdb, migrations, seed) and warm (the same folder again after a clean Ctrl-C), then the
 * resident memory of every process after 10 s idle, then how long Ctrl-C takes to stop it all.
 *
 *   npm run bench -- idle [--idle 10] [--stop-timeout 20] [--start-timeout 180]
 *
 * `npm start` runs in its own process group and is stopped with SIGINT to that group, which is
 * what Ctrl-C in a terminal does. Temporal uses 7233/8233 and PostgreSQL 54329 when they are free,
 * other ports otherwise (scripts/start.ts), so this can run beside another instance.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { freePort } from '../platform/dev-services';
import { allProcesses, makeTempDir, processTree, pssMb, registerCleanup, repoRoot, rssMb, say, sumOf, waitForHealth, type ProcInfo } from './stack';

interface Started {
  child: ChildProcess;
  pgid: number;
  healthyMs: number;
  /** ms since spawn at which start.ts reported each step. */
  phases: Record<string, number>;
  output: string[];
}

const MILESTONES: Array<[string, RegExp]> = [
  ['temporal', /^\[spirit\] (Temporal dev server on|using Temporal)/],
  ['postgres', /^\[spirit\] embedded PostgreSQL on/],
  ['migrated', /^\[spirit\] (migrations applied|schema up to date)/],
  ['seeded', /^\[spirit\] demo data:/],
];

async function startPlatform(dataDir: string, port: number, timeoutMs: number): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, SPIRIT_DATA_DIR: dataDir, PORT: String(port) };
  // The whole local platform: no external servers, development mode, default log level.
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'NODE_ENV', 'LOG_LEVEL', 'JWT_SECRET', 'TEMPORAL_TASK_QUEUE_PREFIX']) delete env[k];
  const t0 = performance.now();
  const child = spawn('npm', ['start'], { cwd: repoRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const phases: Record<string, number> = {};
  let partial = '';
  const onData = (chunk: Buffer) => {
    const at = Math.round(performance.now() - t0);
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      output.push(line);
      if (output.length > 200) output.shift();
      for (const [name, re] of MILESTONES) if (re.test(line) && phases[name] === undefined) phases[name] = at;
      if (process.env.BENCH_VERBOSE) process.stderr.write(`  | ${line}\n`);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const failed = () =>
    child.exitCode !== null || child.signalCode !== null
      ? `npm start exited (code ${child.exitCode}, signal ${child.signalCode}) before /health answered:\n${output.slice(-30).join('\n')}`
      : undefined;
  try {
    await waitForHealth(`http://127.0.0.1:${port}`, { timeoutMs, intervalMs: 50, failed });
  } catch (err) {
    killGroup(child.pid!, 'SIGKILL');
    throw err;
  }
  const healthyMs = Math.round(performance.now() - t0);
  phases.healthy = healthyMs;
  return { child, pgid: child.pid!, healthyMs, phases, output };
}

function killGroup(pgid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Every process of this npm start: its tree plus anything left in its process group. */
function platformProcesses(started: Started): ProcInfo[] {
  const tree = processTree(started.child.pid!);
  const seen = new Set(tree.map((p) => p.pid));
  return [...tree, ...allProcesses().filter((p) => p.pgrp === started.pgid && !seen.has(p.pid))];
}

function alive(p: ProcInfo): boolean {
  try {
    return fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').join(' ').trim() === p.cmdline;
  } catch {
    return false;
  }
}

function role(p: ProcInfo): string {
  if (p.cmdline.includes('api/main.ts')) return 'api';
  if (p.cmdline.includes('workers/main.ts')) return 'worker';
  if (p.cmdline.includes('scripts/start.ts')) return p.cmdline.includes('--import') || p.cmdline.includes('--require') ? 'start.ts' : 'tsx-cli';
  if (p.cmdline.includes('server start-dev')) return 'temporal';
  if (p.comm === 'postgres') return 'postgres';
  return p.comm;
}

/** Ctrl-C: SIGINT to the process group; done when npm has exited and no process of the platform is left. */
async function stopPlatform(started: Started, timeoutMs: number) {
  const tracked = platformProcesses(started);
  const t0 = performance.now();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined =
    started.child.exitCode !== null || started.child.signalCode !== null ? { code: started.child.exitCode, signal: started.child.signalCode } : undefined;
  started.child.once('exit', (code, signal) => (exit = { code, signal }));
  killGroup(started.pgid, 'SIGINT');
  // When the last process of each kind was gone (ms after the SIGINT, 25 ms resolution).
  const goneMs: Record<string, number> = {};
  const goneAt = new Map<number, number>();
  for (;;) {
    const elapsed = Math.round(performance.now() - t0);
    const left = tracked.filter(alive);
    for (const p of tracked) {
      if (left.includes(p) || goneAt.has(p.pid)) continue;
      goneAt.set(p.pid, elapsed); // first poll that found it gone
      goneMs[role(p)] = Math.max(goneMs[role(p)] ?? 0, elapsed); // the last process of that kind
    }
    if (exit && left.length === 0) {
      return { stopMs: elapsed, exit, clean: true, goneMs, leftOver: [] as string[] };
    }
    if (elapsed > timeoutMs) {
      const leftOver = left.map((p) => `${p.pid} ${role(p)}: ${p.cmdline.slice(0, 120)}`);
      say(`not stopped within ${timeoutMs} ms; killing: ${leftOver.join('; ') || 'npm'}`);
      killGroup(started.pgid, 'SIGKILL');
      for (const p of left) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      return { stopMs: elapsed, exit, clean: false, goneMs, leftOver };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function memory(started: Started) {
  const procs = platformProcesses(started);
  const api = procs.filter((p) => p.comm.startsWith('node') && p.cmdline.includes('api/main.ts'));
  const worker = procs.filter((p) => p.comm.startsWith('node') && p.cmdline.includes('workers/main.ts'));
  const temporal = procs.filter((p) => p.cmdline.includes('server start-dev'));
  const postgres = procs.filter((p) => p.comm === 'postgres' || /\/postgres( |$)/.test(p.cmdline.split(' ')[0] ?? ''));
  const classified = new Set([...api, ...worker, ...temporal, ...postgres].map((p) => p.pid));
  const launcher = procs.filter((p) => !classified.has(p.pid)); // npm, sh, the tsx CLI, scripts/start.ts
  const pids = (list: ProcInfo[]) => list.map((p) => p.pid);
  if (api.length !== 1 || worker.length !== 1) say(`warning: found ${api.length} API and ${worker.length} worker processes`);
  return {
    apiRssMb: sumOf(pids(api), rssMb),
    workerRssMb: sumOf(pids(worker), rssMb),
    temporalRssMb: sumOf(pids(temporal), rssMb),
    postgresRssMb: sumOf(pids(postgres), rssMb),
    postgresPssMb: sumOf(pids(postgres), pssMb),
    postgresProcesses: postgres.length,
    launcherRssMb: sumOf(pids(launcher), rssMb),
    launcherRssByProcessMb: Object.fromEntries(launcher.map((p) => [role(p), rssMb(p.pid)])),
    totalRssMb: sumOf(pids(procs), rssMb),
    totalPssMb: sumOf(pids(procs), pssMb),
    pids: { api: pids(api), worker: pids(worker), temporal: pids(temporal), postgresMaster: postgres.find((p) => !postgres.some((q) => q.pid === p.ppid))?.pid },
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({
    args,
    options: {
      idle: { type: 'string', default: '10' },
      'stop-timeout': { type: 'string', default: '20' },
      'start-timeout': { type: 'string', default: '180' },
    },
    strict: true,
  });
  const idleMs = Number(o.idle) * 1000;
  const stopTimeoutMs = Number(o['stop-timeout']) * 1000;
  const startTimeoutMs = Number(o['start-timeout']) * 1000;
  const dataDir = makeTempDir('spirit-bench-idle-');
  const port = await freePort();
  let running: Started | undefined;
  const cleanup = async () => {
    const r = running;
    running = undefined;
    if (r) await stopPlatform(r, 5000).catch(() => undefined);
    if (process.env.BENCH_KEEP) say(`kept ${dataDir}`);
    else fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const unregister = registerCleanup(cleanup); // Ctrl-C on the bench: npm start runs in its own group and would not get it
  try {
    say(`cold start: npm start with SPIRIT_DATA_DIR=${dataDir} PORT=${port}`);
    running = await startPlatform(dataDir, port, startTimeoutMs);
    const cold = running;
    say(`cold start healthy in ${cold.healthyMs} ms ${JSON.stringify(cold.phases)}`);
    const firstStop = await stopPlatform(cold, stopTimeoutMs);
    running = undefined;
    say(`first stop: ${firstStop.stopMs} ms, npm exit ${JSON.stringify(firstStop.exit)}${firstStop.clean ? '' : ', NOT clean'}, gone at ${JSON.stringify(firstStop.goneMs)}`);

    say('warm start: same data folder');
    running = await startPlatform(dataDir, port, startTimeoutMs);
    const warm = running;
    say(`warm start healthy in ${warm.healthyMs} ms ${JSON.stringify(warm.phases)}`);

    say(`idle for ${idleMs / 1000} s`);
    await new Promise((r) => setTimeout(r, idleMs));
    const mem = memory(warm);
    say(`idle RSS: API ${mem.apiRssMb} MB, worker ${mem.workerRssMb} MB, Temporal ${mem.temporalRssMb} MB, PostgreSQL ${mem.postgresRssMb} MB (PSS ${mem.postgresPssMb}), total ${mem.totalRssMb} MB`);

    const stop = await stopPlatform(warm, stopTimeoutMs);
    running = undefined;
    say(`stop: ${stop.stopMs} ms, npm exit ${JSON.stringify(stop.exit)}${stop.clean ? '' : ', NOT clean'}, gone at ${JSON.stringify(stop.goneMs)}`);

    return {
      coldStartMs: cold.healthyMs,
      warmStartMs: warm.healthyMs,
      coldPhasesMs: cold.phases,
      warmPhasesMs: warm.phases,
      idleSeconds: idleMs / 1000,
      ...mem,
      stopMs: stop.stopMs,
      stoppedWithin20s: stop.clean && stop.stopMs <= 20000,
      stopNpmExit: stop.exit,
      stopGoneAtMs: stop.goneMs,
      stopLeftOver: stop.leftOver,
      firstStopMs: firstStop.stopMs,
      firstStopClean: firstStop.clean,
      firstStopGoneAtMs: firstStop.goneMs,
    };
  } finally {
    unregister();
    await cleanup();
  }
}
