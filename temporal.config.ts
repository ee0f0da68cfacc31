/**
 * Where the platform's Temporal lives and what it registers there.
 * Shared by the API (client), the workers and the dev launcher, so that every process agrees
 * on namespace, task queue names and search attributes.
 */
export const TEMPORAL_CLI_VERSION = '1.5.1';

export const temporalConfig = {
  /** host:port of the frontend; when unset, `npm start` and the tests run a dev server themselves. */
  address: process.env.TEMPORAL_ADDRESS || undefined,
  namespace: process.env.TEMPORAL_NAMESPACE || 'default',
  /** Prepended to every task queue and schedule id, so several deployments or test runs can share one server. */
  taskQueuePrefix: process.env.TEMPORAL_TASK_QUEUE_PREFIX || '',
};

/**
 * Task queues, one per kind of work, so production can scale each on its own
 * (`WORKER_TASK_QUEUES=bookings,payments npm run start:worker`).
 */
export const taskQueues = {
  /** booking lifecycles and their payment sagas */
  bookings: 'bookings',
  /** email campaigns and automations */
  marketing: 'marketing',
  /** housekeeping: expiring idempotency keys and refresh tokens, scheduled jobs */
  platform: 'platform',
  /** agent runs (agentRunWorkflow), their tools and model calls */
  agents: 'agents',
} as const;

export type TaskQueueName = (typeof taskQueues)[keyof typeof taskQueues];

/** The name a queue has on the server (with this deployment's prefix). */
export function taskQueue(name: TaskQueueName): string {
  return `${temporalConfig.taskQueuePrefix}${name}`;
}

/**
 * Custom search attributes the platform registers on the server (dev server: `--search-attribute`;
 * a production cluster: `temporal operator search-attribute create`, see docker-compose.yml).
 */
export const searchAttributes = {
  BookingStatus: 'KeywordList',
  DepartureDate: 'Datetime',
  CustomerId: 'Keyword',
  PartnerId: 'Keyword',
  BranchId: 'Keyword',
} as const;
