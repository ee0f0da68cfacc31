/**
 * The Koa application: middleware in order (request id + access log, problem rendering, body,
 * authentication), then the declared routes. Everything it talks to comes in through ApiDeps.
 */
import Koa from 'koa';
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Client, Connection } from '@temporalio/client';
import type { Logger } from '../platform/logger';
import { authenticate } from './auth';
import { bodyReader, problemRenderer, requestContext } from './http/middleware';
import { catalogMicrocache } from './http/microcache';
import { config } from '../platform/config';
import { AnyRoute, mountRoutes } from './http/routes';
import { authRoutes } from './routes/auth';
import { catalogAudience, catalogRoutes, departureAdminRoutes } from './routes/catalog';
import { healthRoute, mountSystemRoutes } from './routes/system';
import { bookingRoutes } from './routes/bookings';
import { marketingRoutes } from './routes/marketing';
import { campaignRoutes, mountTrackingRoutes } from './routes/campaigns';
import { automationRoutes } from './routes/automations';
import { mountOutboxPages } from './routes/outbox';
import { mountSandboxPage, webhookRoutes } from './routes/payment-web';
import { contactRoutes } from './routes/contacts';
import { templateRoutes } from './routes/templates';
import { mountUnsubscribePages } from './routes/unsubscribe';

export interface ApiDeps {
  knex: Knex;
  /** Connects on first use, so the API starts (and reports unhealthy) while Temporal is down. */
  temporalConnection: () => Promise<Connection>;
  temporalClient: () => Promise<Client>;
  logger: Logger;
  publicUrl?: string;
}

declare module 'koa' {
  interface DefaultContext {
    temporal: () => Promise<Connection>;
    temporalClient: () => Promise<Client>;
  }
}

export function allRoutes(): AnyRoute[] {
  return [healthRoute, ...authRoutes, ...catalogRoutes, ...departureAdminRoutes, ...bookingRoutes, ...webhookRoutes, ...marketingRoutes, ...campaignRoutes, ...automationRoutes, ...contactRoutes, ...templateRoutes];
}

export function createApp(deps: ApiDeps): Koa {
  const app = new Koa({ proxy: process.env.TRUST_PROXY === '1' });
  app.context.knex = deps.knex;
  app.context.temporal = deps.temporalConnection;
  app.context.temporalClient = deps.temporalClient;
  app.silent = true; // errors are logged by problemRenderer, with the request id

  const router = new Router();
  const routes = allRoutes();
  mountSystemRoutes(router, () => routes, deps);
  mountRoutes(router, routes);
  mountSandboxPage(router);
  mountUnsubscribePages(router);
  mountTrackingRoutes(router);
  mountOutboxPages(router);

  app.use(requestContext(deps.logger));
  app.use(problemRenderer());
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    await next();
  });
  app.use(bodyReader());
  app.use(authenticate());
  app.use(catalogMicrocache({ ttlMs: config.catalogCacheMs, paths: /^\/api\/v1\/(tours|departures)(\/[^/]+)?$/, audience: (ctx) => catalogAudience(ctx.state.principal) }));
  app.use(router.routes());
  app.use(router.allowedMethods()); // sets 405 + Allow (or 501); problemRenderer writes the body
  return app;
}
