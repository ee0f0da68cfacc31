/**
 * The worker process: `npm run start:worker` (production: `node dist/workers/main.js`).
 * WORKER_TASK_QUEUES picks the queues (default: all). SIGTERM/SIGINT drain in-flight tasks and exit.
 */
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import { assertProductionReady, config, hardening } from '../platform/config';
import { closeDatabase, connectDatabase } from '../platform/db';
import { logger } from '../platform/logger';
import { taskQueues, temporalConfig, type TaskQueueName } from '../temporal.config';
import { createWorkers, ensureSchedules } from './worker';
import { ensureAgentSchedules } from '../services/agent-runs';
import { describeProviders } from '../integrations/payments';
import { describeEmailProvider } from '../integrations/email';
import { describeWhatsApp, type WhatsAppChannel } from '../integrations/whatsapp';
import { WebChannel } from '../integrations/whatsapp/web';
import { receiveWhatsApp } from '../services/whatsapp';

async function main() {
  assertProductionReady('worker'); // every missing setting named at once
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required');
  if (!temporalConfig.address) throw new Error('TEMPORAL_ADDRESS is required');
  const known = Object.values(taskQueues) as string[];
  const unknown = config.workerTaskQueues.filter((q) => !known.includes(q));
  if (unknown.length) throw new Error(`WORKER_TASK_QUEUES has unknown queues: ${unknown.join(', ')} (known: ${known.join(', ')})`);

  // The SDK's runtime shuts workers down gracefully on these signals.
  // The SDK's own logs go through our JSON logger, so one process writes one format.
  const sdkLog = logger.child({ component: 'temporal-sdk' });
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
  Runtime.install({
    shutdownSignals: ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR2'],
    logger: new DefaultLogger('INFO', (entry) => sdkLog[levels[entry.level]](entry.meta ?? {}, entry.message)),
  });
  // Until the workers run, the SDK's runtime has nothing to drain: a signal just ends the process.
  const early = () => process.exit(0);
  process.once('SIGINT', early);
  process.once('SIGTERM', early);
  const knex = connectDatabase(config.databaseUrl, { statementTimeoutMs: hardening.workerStatementTimeoutMs });
  const started = Date.now();
  // A bundle built beforehand keeps webpack out of this long-lived process (about 70 MB less RSS).
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  if (bundlePath && !fs.existsSync(bundlePath)) throw new Error(`WORKFLOW_BUNDLE_PATH=${bundlePath} does not exist (build it with scripts/bundle-workflows.ts)`);
  // whatsapp-web.js: the linked device lives in the worker that sends (the agents queue runs
  // conversation.deliver, the marketing queue booking messages); customers' messages it receives
  // enter the same path as webhooks. One session per number: run one such worker process.
  let whatsapp: WhatsAppChannel | undefined;
  let inboundConnection: Connection | undefined;
  const queues = config.workerTaskQueues as TaskQueueName[];
  if (config.whatsapp.channel === 'web' && (!queues.length || queues.includes(taskQueues.agents) || queues.includes(taskQueues.marketing))) {
    inboundConnection = await Connection.connect({ address: temporalConfig.address });
    const inboundClient = new Client({ connection: inboundConnection, namespace: temporalConfig.namespace });
    const web = new WebChannel({
      knex, dataDir: config.dataDir, chromiumPath: config.whatsapp.chromiumPath, businessId: config.whatsapp.phoneNumberId, sendTimeoutMs: config.whatsapp.sendTimeoutMs,
      onInbound: (m) => receiveWhatsApp(inboundClient, knex, m), log: (msg, meta) => logger.info(meta ?? {}, msg),
    });
    void web.start();
    whatsapp = web;
  }
  const workers = await createWorkers({
    address: temporalConfig.address, knex, queues, bundle: bundlePath ? { codePath: bundlePath } : undefined,
    ...(whatsapp ? { activityDeps: { whatsapp } } : {}),
  });
  if (workers.queues.includes(taskQueues.platform) || workers.queues.includes(taskQueues.agents)) {
    const connection = await Connection.connect({ address: temporalConfig.address });
    const client = new Client({ connection, namespace: temporalConfig.namespace });
    if (workers.queues.includes(taskQueues.platform)) await ensureSchedules(client);
    // Periodic agents: one Temporal Schedule each, created or brought in step with their definitions.
    if (workers.queues.includes(taskQueues.agents)) logger.info({ schedules: await ensureAgentSchedules(client) }, 'agent schedules');
    await connection.close();
  }
  logger.info({ queues: workers.queues, ms: Date.now() - started }, 'workers running');
  // Say plainly which providers are real and which are local stand-ins.
  for (const line of describeProviders(process.env)) logger.info(`payments: ${line}`);
  logger.info(`suppliers: simulated (latency ${config.supplier.latencyMs} ms, failure rate ${config.supplier.failureRate})`);
  logger.info(describeEmailProvider(process.env));
  logger.info(describeWhatsApp());
  process.removeListener('SIGINT', early);
  process.removeListener('SIGTERM', early);
  const running = workers.run();
  if (process.env.SPIRIT_READY_FILE) fs.writeFileSync(process.env.SPIRIT_READY_FILE, String(process.pid));
  await running;
  await whatsapp?.close?.();
  await inboundConnection?.close();
  await workers.connection.close();
  await closeDatabase();
  logger.info('workers stopped');
}

main().catch((err) => {
  logger.fatal({ err: err.message }, 'worker failed');
  process.exit(1);
});
