/**
 * Booking workers in processes of their own, so a test can SIGKILL or SIGTERM them as a crash or
 * a deploy would. They poll the task queues under `prefix` only, against the test stack's
 * PostgreSQL and Temporal. `killAllWorkerProcesses` (an `after` hook) leaves none running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../platform/config';
import { stack } from './stack';

const started = new Set<ChildProcess>();

export function startWorkerProcess(prefix: string, env: Record<string, string> = {}, stderr: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', 'main.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env, DATABASE_URL: stack().databaseUrl, TEMPORAL_ADDRESS: stack().temporalAddress, TEMPORAL_TASK_QUEUE_PREFIX: prefix,
      WORKER_TASK_QUEUES: 'bookings', LOG_LEVEL: 'warn', ...env,
    },
    stdio: ['ignore', 'ignore', stderr],
  });
  started.add(child);
  return child;
}

export function killAllWorkerProcesses(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
