/**
 * A worker of its own for the probe agents (test/support/probe-agents.ts), on a task queue of its
 * own, in this process: the same workflow bundle and agent runtime as production, other agents.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { projectRoot } from '../../platform/config';
import { createAgentActivityGroups, type AgentModelFor, type ModelCaller } from '../../activities/agents/run';
import { activityRegistry } from '../../activities/registry';
import { taskQueues } from '../../temporal.config';
import type { AgentRunInput } from '../../workflows/agent-messages';
import { PROBE_AGENTS, createProbeTable } from './probe-agents';
import { runId, testDataDir } from './env';
import { stack } from './stack';

export interface ProbeWorker {
  taskQueue: string;
  start(agent: string, input: unknown, occasion?: string): Promise<string>;
  stop(): Promise<void>;
}

let n = 0;

export async function startProbeWorker(options: { modelFor?: AgentModelFor; callModel?: ModelCaller; limits?: { steps?: number; tokens?: number; toolErrors?: number } } = {}): Promise<ProbeWorker> {
  const { knex, temporal, temporalAddress, bundle } = stack();
  await createProbeTable(knex);
  const taskQueue = `probe-agents-${runId}-${++n}`;
  const groups = createAgentActivityGroups({
    knex, temporal: async () => temporal, publicUrl: 'http://127.0.0.1', agents: PROBE_AGENTS, modelFor: options.modelFor, callModel: options.callModel, limits: options.limits,
  });
  const connection = await NativeConnection.connect({ address: temporalAddress });
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities: activityRegistry(groups).forQueue(taskQueues.agents) });
  const running = worker.run();
  return {
    taskQueue,
    async start(agent, input, occasion = `test-${Math.random().toString(36).slice(2)}`) {
      const id = `agent-${agent}-${occasion}`;
      const args: AgentRunInput = { agent, input, occasion, trigger: 'request' };
      await temporal.workflow.start('agentRunWorkflow', { workflowId: id, taskQueue, args: [args] });
      return id;
    },
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** The probe worker in a child process on `taskQueue` (the test kills it); resolves once it polls. */
export async function startProbeWorkerProcess(taskQueue: string): Promise<ChildProcess> {
  const { bundle, databaseUrl, temporalAddress, knex } = stack();
  await createProbeTable(knex);
  const bundlePath = path.join(testDataDir, 'probe-workflow-bundle.js');
  if (!fs.existsSync(bundlePath)) fs.writeFileSync(bundlePath, bundle.code);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'test', 'support', 'probe-worker-main.ts')], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress, PROBE_TASK_QUEUE: taskQueue, WORKFLOW_BUNDLE_PATH: bundlePath },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    child.once('exit', (code) => reject(new Error(`the probe worker exited with ${code}`)));
  });
  return child;
}
