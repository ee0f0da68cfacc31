/**
 * A probe-agent worker in a process of its own (test/support/probe-worker.ts's `startProbeWorkerProcess`),
 * so a test can SIGKILL it mid-run as a crash would. Env: DATABASE_URL, TEMPORAL_ADDRESS,
 * PROBE_TASK_QUEUE, WORKFLOW_BUNDLE_PATH.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createAgentActivityGroups } from '../../activities/agents/run';
import { activityRegistry } from '../../activities/registry';
import { connectDatabase } from '../../platform/db';
import { taskQueues } from '../../temporal.config';
import { PROBE_AGENTS } from './probe-agents';

async function main() {
  const knex = connectDatabase(process.env.DATABASE_URL!);
  const address = process.env.TEMPORAL_ADDRESS!;
  const client = Connection.connect({ address }).then((connection) => new Client({ connection }));
  const groups = createAgentActivityGroups({ knex, temporal: () => client, publicUrl: 'http://127.0.0.1', agents: PROBE_AGENTS });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection, taskQueue: process.env.PROBE_TASK_QUEUE!, workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE_PATH! },
    activities: activityRegistry(groups).forQueue(taskQueues.agents),
  });
  process.stdout.write('ready\n');
  await worker.run();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
