/**
 * The API process: `npm run start:api` (production: `node dist/api/main.js`). Needs DATABASE_URL
 * and TEMPORAL_ADDRESS; `npm start` sets both when it runs the embedded servers.
 */
import http from 'node:http';
import { assertProductionReady, config } from '../platform/config';
import { connectDatabase, closeDatabase } from '../platform/db';
import { logger } from '../platform/logger';
import { loadSecrets } from '../platform/secrets';
import { lazyTemporal } from '../platform/temporal';
import { temporalConfig } from '../temporal.config';
import { createApp } from './app';
import { describeProviders } from '../integrations/payments';
import { describeWhatsApp } from '../integrations/whatsapp';
import { startWhatsAppSweep } from '../services/whatsapp';

export async function startApi(options: { port?: number; host?: string } = {}) {
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required (e.g. postgres://user:pass@host:5432/spirit)');
  if (!temporalConfig.address) throw new Error('TEMPORAL_ADDRESS is required (host:port of the Temporal frontend)');
  assertProductionReady('api'); // every missing setting named at once
  loadSecrets(); // fail at start, not at the first login
  const knex = connectDatabase(config.databaseUrl);
  const temporal = lazyTemporal(temporalConfig.address);
  const app = createApp({ knex, temporalConnection: temporal.connection, temporalClient: temporal.client, logger, publicUrl: config.publicUrl });
  for (const line of describeProviders(process.env)) logger.info(`payments: ${line}`);
  logger.info(describeWhatsApp());
  // WhatsApp webhook deliveries this (or another) API process stored and did not finish: processed again after 30 s.
  const stopSweep = startWhatsAppSweep(temporal.client, knex, { log: (msg, meta) => logger.warn(meta, msg) });
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? config.port, options.host ?? config.host, resolve));
  const stop = async () => {
    stopSweep();
    await app.context.liveEvents.close(); // ends the event streams, which would otherwise hold server.close() open
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await temporal.close();
    await app.context.sessions.close();
    await app.context.security.close(); // writes the security events still buffered
    await closeDatabase();
  };
  return { server, stop };
}

if (require.main === module) {
  startApi()
    .then(({ server, stop }) => {
      const addr = server.address();
      logger.info({ port: typeof addr === 'object' && addr ? addr.port : config.port }, 'API listening');
      let stopping = false;
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.on(signal, () => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, 'API shutting down');
          stop().then(() => process.exit(0), () => process.exit(1));
        });
      }
    })
    .catch((err) => {
      logger.fatal({ err: err.message }, 'API failed to start');
      process.exit(1);
    });
}
