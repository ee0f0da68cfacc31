/**
 * The real stack for integration tests, started once per run by test/setup.ts:
 * PostgreSQL (a fresh database on DATABASE_URL's server, else an embedded server in a temp
 * folder), Temporal (TEMPORAL_ADDRESS, else an in-memory dev server), migrations, demo seed,
 * one workflow bundle, the workers and the API on free ports.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Knex } from 'knex';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createApp } from '../../api/app';
import { connectDatabase, closeDatabase, createKnex, migrateLatest } from '../../platform/db';
import { startEmbeddedPostgres, startTemporalDevServer, type RunningService } from '../../platform/dev-services';
import { logger } from '../../platform/logger';
import { lazyTemporal } from '../../platform/temporal';
import { seedDemo } from '../../scripts/demo-seed';
import { temporalConfig } from '../../temporal.config';
import { bundleWorkflows, createWorkers } from '../../workers/worker';
import { runId, testDataDir } from './env';
import { startFakeStripe, type FakeStripe } from './fake-stripe';
import { startFakeSendGrid, type FakeSendGrid } from './fake-sendgrid';
import { startFakeGraph, type FakeGraph } from './fake-graph';
import { SwitchableChannel } from './whatsapp';
import { CLIENT_ID as PAYPAL_CLIENT_ID, CLIENT_SECRET as PAYPAL_CLIENT_SECRET, WEBHOOK_ID as PAYPAL_WEBHOOK_ID, startFakePayPal, type FakePayPal } from './fake-paypal';

export interface Stack {
  databaseUrl: string;
  knex: Knex;
  temporalAddress: string;
  temporal: Client;
  bundle: WorkflowBundleWithSourceMap;
  baseUrl: string;
  /** A local server speaking Stripe's API; the workers' Stripe provider points at it. */
  stripe: FakeStripe;
  /** A local server speaking SendGrid's mail/send; the workers' email provider points at it. */
  sendgrid: FakeSendGrid;
  /** A local server speaking PayPal's REST API; the workers' PayPal provider and the API's webhook verification point at it. */
  paypal: FakePayPal;
  /** A local server speaking the Graph API's WhatsApp messages endpoint (tests point a CloudChannel at it). */
  graph: FakeGraph;
  /** The workers' WhatsApp channel: the simulator unless a test `use`s another (e.g. a CloudChannel at `graph`). */
  whatsapp: SwitchableChannel;
  /** A fresh, empty database on the same server, for tests that need one of their own. */
  createDatabase(name: string): Promise<string>;
}

let current: Stack | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

export function stack(): Stack {
  if (!current) throw new Error('the test stack is not running (test/setup.ts starts it)');
  return current;
}

async function provideDatabase(): Promise<{ url: string; createDatabase: (name: string) => Promise<string> }> {
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const pg: RunningService = await startEmbeddedPostgres({ dataDir: path.join(testDataDir, 'postgres'), port: 0, fast: true, database: 'postgres' });
    cleanups.push(() => pg.stop());
    serverUrl = pg.url;
  }
  const admin = createKnex(serverUrl, 1);
  const created: string[] = [];
  cleanups.push(async () => {
    for (const db of created) await admin.raw(`drop database if exists "${db}" with (force)`).catch(() => undefined);
    await admin.destroy();
  });
  const createDatabase = async (name: string) => {
    const db = `spirit_test_${runId}_${name}`;
    await admin.raw(`create database "${db}"`);
    created.push(db);
    const url = new URL(serverUrl!);
    url.pathname = `/${db}`;
    return url.toString();
  };
  return { url: await createDatabase('main'), createDatabase };
}

export async function startStack(): Promise<Stack> {
  const [db, temporalServer, bundle] = await Promise.all([
    provideDatabase(),
    process.env.TEMPORAL_ADDRESS
      ? Promise.resolve({ address: process.env.TEMPORAL_ADDRESS, stop: async () => undefined })
      : startTemporalDevServer({ headless: true }),
    bundleWorkflows(),
  ]);
  cleanups.push(() => temporalServer.stop());

  const knex = connectDatabase(db.url);
  cleanups.push(() => closeDatabase());
  await migrateLatest(knex);
  await seedDemo(knex, { bcryptRounds: 4 });

  const connection = await Connection.connect({ address: temporalServer.address });
  cleanups.push(() => connection.close());
  const temporal = new Client({ connection, namespace: temporalConfig.namespace });

  const stripe = await startFakeStripe();
  cleanups.push(() => stripe.close());
  const sendgrid = await startFakeSendGrid();
  cleanups.push(() => sendgrid.close());
  const paypal = await startFakePayPal();
  cleanups.push(() => paypal.close());
  const graph = await startFakeGraph();
  cleanups.push(() => graph.close());
  const whatsapp = new SwitchableChannel(knex);
  // The API reads PayPal's settings from its environment (webhook verification); so do worker
  // processes that tests spawn.
  Object.assign(process.env, { PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, PAYPAL_API_BASE: paypal.url, PAYPAL_WEBHOOK_ID });
  const workers = await createWorkers({
    address: temporalServer.address, knex, bundle,
    activityDeps: {
      campaignBatchSize: 50,
      whatsapp,
      env: {
        STRIPE_SECRET_KEY: 'sk_test_spirit', STRIPE_API_BASE: stripe.url, STRIPE_WEBHOOK_SECRET: process.env.STRIPE_WEBHOOK_SECRET,
        EMAIL_PROVIDER: 'sendgrid', SENDGRID_API_KEY: sendgrid.apiKey, SENDGRID_BASE_URL: sendgrid.url,
        PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, PAYPAL_API_BASE: paypal.url, PAYPAL_WEBHOOK_ID,
      },
    },
  });
  const running = workers.run();
  cleanups.push(async () => {
    await workers.shutdown();
    await running;
    await workers.connection.close();
    await workers.closeClient();
  });

  const apiTemporal = lazyTemporal(temporalServer.address);
  cleanups.push(() => apiTemporal.close());
  // The API accepts the providers the workers have (Stripe, pointed at the fake).
  const app = createApp({ knex, temporalConnection: apiTemporal.connection, temporalClient: apiTemporal.client, logger, paymentEnv: { ...process.env, STRIPE_SECRET_KEY: 'sk_test_spirit' } });
  cleanups.push(() => app.context.sessions.close());
  cleanups.push(() => app.context.security.close());
  cleanups.push(() => app.context.liveEvents.close());
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const { port } = server.address() as AddressInfo;

  current = {
    databaseUrl: db.url, knex, temporalAddress: temporalServer.address, temporal, bundle,
    baseUrl: `http://127.0.0.1:${port}`, stripe, sendgrid, paypal, graph, whatsapp, createDatabase: db.createDatabase,
  };
  return current;
}

export async function stopStack(): Promise<void> {
  current = undefined;
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((err) => console.error('cleanup failed:', err));
  }
  cleanups.length = 0;
}
