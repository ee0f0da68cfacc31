/**
 * What one cached workflow costs a worker in memory: the booking workflow against the SDK's floor.
 * Explains bench/worker-rss.ts (the sticky cache keeps up to maxCachedWorkflows workflows per Worker
 * in the worker's memory).
 *
 *   npm run bench -- workflow-memory [--count 1000] [--max-cached N]
 *
 * A Temporal dev server only (no PostgreSQL). For each kind, a fresh worker process of ONE Worker
 * (bench/experiments/workflow-memory-worker.ts) with a prebuilt bundle, then `count` workflows
 * started and left asleep; VmRSS before and after, over the number of workflows cached:
 *   noop:    noopShapedWorkflow (bench/noop-workflow.ts): 2 activities, then it waits for an update;
 *   booking: bookingWorkflow from the platform's bundle (workflows/), with stand-in activities
 *            (loadBooking answers a held booking, no database): 2 activities, then it waits for
 *            the hold to lapse, exactly where a real held booking sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startTemporalDevServer } from '../platform/dev-services';
import { bookingWorkflowId } from '../workflows/booking-messages';
import { inPool, round1, sleep } from './booking-support';
import { makeTempDir, peakRssMb, registerCleanup, repoRoot, rssMb, say } from './stack';

const quiet = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (m: string) => console.warn(m), error: (m: string) => console.error(m),
};

interface WorkerLine { asleep: number; rssMb: number; heapUsedMb: number; maxCachedWorkflows: number }

async function measure(kind: 'booking' | 'noop', bundle: string, address: string, client: Client, count: number, maxCached?: string) {
  const taskQueue = `wm-${kind}-${crypto.randomBytes(3).toString('hex')}`;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/experiments/workflow-memory-worker.ts')], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, WM_ADDRESS: address, WM_TASK_QUEUE: taskQueue, WM_BUNDLE: bundle, WM_KIND: kind, WM_MAX_CACHED_WORKFLOWS: maxCached ?? '' },
  });
  const unregister = registerCleanup(async () => void child.kill('SIGKILL'));
  let last: WorkerLine | undefined;
  let partial = '';
  child.stdout!.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) last = JSON.parse(l) as WorkerLine;
  });
  try {
    const t0 = Date.now();
    while (!last) {
      if (child.exitCode !== null) throw new Error(`the ${kind} worker exited (${child.exitCode})`);
      if (Date.now() - t0 > 60_000) throw new Error(`the ${kind} worker did not start`);
      await sleep(200);
    }
    await sleep(2000);
    const rssIdle = rssMb(child.pid!)!;
    const heapIdle = last.heapUsedMb;
    const ts = Date.now();
    await inPool(count, 50, async (i) => {
      if (kind === 'booking') {
        await client.workflow.start('bookingWorkflow', { taskQueue, workflowId: bookingWorkflowId(crypto.randomUUID()), args: [{ bookingId: crypto.randomUUID() }] });
      } else {
        await client.workflow.start('noopShapedWorkflow', { taskQueue, workflowId: `wm-noop-${taskQueue}-${i}`, args: [{ before: 2, after: 5 }] });
      }
    });
    while ((last?.asleep ?? 0) < count) {
      if (Date.now() - ts > 300_000) throw new Error(`only ${last?.asleep} of ${count} ${kind} workflows got to sleep in 300 s`);
      await sleep(500);
    }
    const seconds = round1((Date.now() - ts) / 1000);
    await sleep(3000);
    const rssAfter = rssMb(child.pid!)!;
    const cached = Math.min(count, last!.maxCachedWorkflows);
    const result = {
      workflows: count, secondsToSleep: seconds, maxCachedWorkflows: last!.maxCachedWorkflows, cached,
      rssIdleMb: rssIdle, rssAfterMb: rssAfter, rssPeakMb: peakRssMb(child.pid!),
      mainThreadHeapUsedMb: { idle: heapIdle, after: last!.heapUsedMb },
      kbPerCachedWorkflow: Math.round(((rssAfter - rssIdle) * 1024) / cached),
    };
    say(`[${kind}] ${JSON.stringify(result)}`);
    return result;
  } finally {
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
    unregister();
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: o } = parseArgs({ args, options: { count: { type: 'string', default: '1000' }, 'max-cached': { type: 'string' } }, strict: true });
  const count = Number(o.count);
  const dir = makeTempDir('spirit-bench-wfmem-');
  const temporal = await startTemporalDevServer({ headless: true });
  const unregister = registerCleanup(async () => void (await temporal.stop()));
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  try {
    const bundles = {
      booking: path.join(dir, 'workflows.js'),
      noop: path.join(dir, 'noop.js'),
    };
    fs.writeFileSync(bundles.booking, (await bundleWorkflowCode({ workflowsPath: path.join(repoRoot, 'workflows'), logger: quiet })).code);
    fs.writeFileSync(bundles.noop, (await bundleWorkflowCode({ workflowsPath: path.join(repoRoot, 'bench/noop-workflow.ts'), logger: quiet })).code);
    const sizes = { bookingBundleKiB: Math.round(fs.statSync(bundles.booking).size / 1024), noopBundleKiB: Math.round(fs.statSync(bundles.noop).size / 1024) };
    say(`bundles: ${JSON.stringify(sizes)}`);
    const noop = await measure('noop', bundles.noop, temporal.address, client, count, o['max-cached']);
    const booking = await measure('booking', bundles.booking, temporal.address, client, count, o['max-cached']);
    return {
      count,
      ...sizes,
      noop,
      booking,
      bookingOverNoopKbPerWorkflow: booking.kbPerCachedWorkflow - noop.kbPerCachedWorkflow,
      note: 'One Worker per process; kbPerCachedWorkflow = (VmRSS after - VmRSS idle) / workflows in the sticky cache.',
    };
  } finally {
    await connection.close();
    await temporal.stop();
    unregister();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
