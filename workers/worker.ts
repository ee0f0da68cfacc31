/**
 * Builds the workers for the chosen task queues over one connection and one workflow bundle.
 * Used by the worker process and by the test harness.
 */
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Knex } from 'knex';
import { createActivities, type ActivityDeps } from '../activities';
import { bookingWorkflowStarter } from '../services/booking-workflows';
import { config } from '../platform/config';
import { lazyTemporal } from '../platform/temporal';
import { taskQueue, taskQueues, temporalConfig, type TaskQueueName } from '../temporal.config';
import { logger as rootLogger, type Logger } from '../platform/logger';
import { agentModelChooser, callModel, chatModelFromConfig } from '../agents/runtime/model';

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
}

const quietBundlerLogger = {
  log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined,
  warn: (message: string) => console.warn(message), error: (message: string) => console.error(message),
};

export interface WorkerOptions {
  address: string;
  namespace?: string;
  knex: Knex;
  queues?: TaskQueueName[];
  /** A bundle built in this process (tests), or the path of one built beforehand (scripts/bundle-workflows.ts). */
  bundle?: WorkflowBundleWithSourceMap | { codePath: string };
  logger?: Logger;
  /** Overrides of activity dependencies (tests: a supplier, a time scale, provider settings). */
  activityDeps?: Partial<Omit<ActivityDeps, 'knex'>>;
  /** Sticky-cache size per Worker (default config.workerMaxCachedWorkflows; the platform queue keeps at most 20). */
  maxCachedWorkflows?: number;
}

export async function createWorkers(options: WorkerOptions) {
  const connection = await NativeConnection.connect({ address: options.address });
  const bundle = options.bundle ?? (await bundleWorkflows());
  const temporal = lazyTemporal(options.address, options.namespace);
  // Agents' model mode (AGENT_MODEL): a setting that cannot work stops the start here, said plainly.
  const configured = options.activityDeps?.agentModelFor ? undefined : await chatModelFromConfig();
  if (!options.activityDeps?.agentModelFor) (options.logger ?? rootLogger).info(configured?.description ?? 'agents run in core mode: no AGENT_MODEL');
  const activities = createActivities({
    knex: options.knex, temporal: temporal.client, startBookingWorkflow: bookingWorkflowStarter(temporal.client),
    agentModelFor: agentModelChooser(configured?.model), callModel,
    ...options.activityDeps,
  });
  const queues = options.queues?.length ? options.queues : (Object.values(taskQueues) as TaskQueueName[]);
  const cacheSize = options.maxCachedWorkflows ?? config.workerMaxCachedWorkflows;
  const workers = await Promise.all(
    queues.map((queue) =>
      Worker.create({
        connection,
        namespace: options.namespace ?? temporalConfig.namespace,
        taskQueue: taskQueue(queue),
        workflowBundle: bundle,
        // Each queue gets the activities of the workflows that run on it (activities/index.ts).
        activities: activities.forQueue(queue),
        maxCachedWorkflows: queue === taskQueues.platform ? Math.min(20, cacheSize) : cacheSize,
      }),
    ),
  );
  return {
    workers,
    queues,
    connection,
    /** Runs until shutdown() or a fatal error. */
    run: () => Promise.all(workers.map((w) => w.run())),
    shutdown: async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
    closeClient: () => temporal.close(),
  };
}

/** Registers the platform's recurring jobs; safe to call from every worker start. */
export async function ensureSchedules(client: Client): Promise<void> {
  const prefix = temporalConfig.taskQueuePrefix;
  try {
    await client.schedule.create({
      scheduleId: `${prefix}platform-housekeeping`,
      spec: { intervals: [{ every: '1 minute' }] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      action: {
        type: 'startWorkflow',
        workflowType: 'housekeepingWorkflow',
        args: [{}],
        taskQueue: taskQueue(taskQueues.platform),
        workflowId: `${prefix}platform-housekeeping`,
      },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    // Keep an existing schedule's timing in step with this code.
    await client.schedule.getHandle(`${prefix}platform-housekeeping`).update((previous) => ({ ...previous, spec: { intervals: [{ every: '1 minute' }] } }));
  }
}
