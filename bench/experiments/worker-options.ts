/**
 * What-if for the worker process: workers/main.ts exactly as it is, with extra options given to
 * every Worker.create first, and the process's memory written down as it goes.
 *
 *   WORKER_MAX_CACHED_WORKFLOWS=N  maxCachedWorkflows per Worker (what workers/worker.ts would pass
 *                                  if it read such a setting; today it passes none: the SDK default)
 *   BENCH_WORKER_OPTIONS='{...}'   any other WorkerOptions, as JSON (e.g. {"reuseV8Context":false})
 *
 * Every 2 s (and once per Worker created) a JSON line goes to $SPIRIT_DATA_DIR/worker-memory.jsonl:
 * process.memoryUsage() and the main thread's V8 heap, so a bench can tell the main thread's heap
 * from the rest (workflow threads' isolates, the SDK's Rust core, code).
 *
 * Used through `npm run bench -- worker-rss --worker-entry bench/experiments/worker-options.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { Worker, type WorkerOptions } from '@temporalio/worker';

const overrides: Partial<WorkerOptions> = {
  ...(process.env.WORKER_MAX_CACHED_WORKFLOWS ? { maxCachedWorkflows: Number(process.env.WORKER_MAX_CACHED_WORKFLOWS) } : {}),
  ...(JSON.parse(process.env.BENCH_WORKER_OPTIONS || '{}') as Partial<WorkerOptions>),
};
const out = path.join(process.env.SPIRIT_DATA_DIR || '.', 'worker-memory.jsonl');
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const write = (entry: Record<string, unknown>) => fs.appendFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);

const create = Worker.create.bind(Worker);
Worker.create = async (options: WorkerOptions) => {
  const worker = await create({ ...options, ...overrides });
  const effective = (worker as unknown as { options?: { maxCachedWorkflows?: number; reuseV8Context?: boolean; maxConcurrentWorkflowTaskExecutions?: number } }).options;
  write({ kind: 'worker', taskQueue: options.taskQueue, overrides, maxCachedWorkflows: effective?.maxCachedWorkflows, reuseV8Context: effective?.reuseV8Context });
  return worker;
};

setInterval(() => {
  const m = process.memoryUsage();
  const h = v8.getHeapStatistics();
  write({ kind: 'memory', rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers), heapLimitMb: mb(h.heap_size_limit) });
}, 2000).unref();

// eslint-disable-next-line @typescript-eslint/no-require-imports
require('../../workers/main');
