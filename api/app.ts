/**
 * The Koa application: middleware in order (request id + access log,
 * security events, problem rendering, security headers, blocked addresses, CORS allowlist, request
 * timeout, body, authentication, blocked accounts, catalog cache), then
 * the declared routes. Everything it talks to comes in through ApiDeps.
 */
import Koa from 'koa';
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Client, Connection } from '@temporalio/client';
import type { Logger } from '../platform/logger';
import { authenticate, createSessionDirectory, type SessionDirectory } from './auth';
import { bodyReader, corsAllowlist, problemRenderer, requestContext, requestTimeout, securityHeaders } from './http/middleware';
import { catalogMicrocache } from './http/microcache';
import { config, hardening } from '../platform/config';
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
import { mountBookingPayPage } from './routes/booking-pay';
import { contactRoutes } from './routes/contacts';
import { templateRoutes } from './routes/templates';
import { mountUnsubscribePages } from './routes/unsubscribe';
import { userRoutes } from './routes/users';
import { enabledProviders, type PaymentEnv } from '../integrations/payments';
import type { ProviderName } from '../integrations/payments/types';
import { auditRoutes } from './routes/audit';
import { agentRoutes } from './routes/agents';
import { approvalRoutes } from './routes/approvals';
import { incidentRoutes } from './routes/incidents';
import { crisisRoutes, mountCrisisPages } from './routes/crisis';
import { conversationRoutes } from './routes/conversations';
import { consoleRoutes } from './routes/console';
import { consoleBookingRoutes } from './routes/console-booking';
import { blockedAccounts, blockedAddresses, createSecurityDesk, securityEvents, type SecurityDesk } from './security';
import { securityRoutes } from './routes/security';
import { privacyRoutes } from './routes/privacy';
import { mountWhatsAppHandshake, whatsappRoutes } from './routes/whatsapp';
import { consolePages } from './console';
import { createLiveEvents, type LiveEvents } from './live-events';
import { eventRoutes } from './routes/events';

export interface ApiDeps {
  knex: Knex;
  /** Connects on first use, so the API starts (and reports unhealthy) while Temporal is down. */
  temporalConnection: () => Promise<Connection>;
  temporalClient: () => Promise<Client>;
  logger: Logger;
  publicUrl?: string;
  /** Whose payment settings decide which providers are enabled (default process.env; the worker reads the same). */
  paymentEnv?: PaymentEnv;
  /** Users' session state; default: one made here, listening on the knex database. */
  sessions?: SessionDirectory;
  /** Security events and enforced blocks (api/security.ts); default: one made here on the knex database. */
  security?: SecurityDesk;
  /** The console's live event feed (api/live-events.ts); default: one made here, listening on the knex database on first use. */
  liveEvents?: LiveEvents;
}

declare module 'koa' {
  interface DefaultContext {
    temporal: () => Promise<Connection>;
    temporalClient: () => Promise<Client>;
    /** Payment providers this deployment accepts (the sandbox only outside production or with PAYMENT_SANDBOX=1). */
    paymentProviders: readonly ProviderName[];
  }
}

export function allRoutes(): AnyRoute[] {
  return [healthRoute, ...authRoutes, ...catalogRoutes, ...departureAdminRoutes, ...bookingRoutes, ...webhookRoutes, ...marketingRoutes, ...campaignRoutes, ...automationRoutes, ...contactRoutes, ...templateRoutes, ...userRoutes, ...auditRoutes,
    ...approvalRoutes, ...agentRoutes, ...incidentRoutes, ...crisisRoutes, ...conversationRoutes, ...securityRoutes, ...privacyRoutes, ...whatsappRoutes,
    ...eventRoutes, ...consoleRoutes, ...consoleBookingRoutes];
}

export function createApp(deps: ApiDeps): Koa {
  const app = new Koa({ proxy: process.env.TRUST_PROXY === '1' });
  app.context.knex = deps.knex;
  app.context.temporal = deps.temporalConnection;
  app.context.temporalClient = deps.temporalClient;
  app.context.paymentProviders = enabledProviders(deps.paymentEnv ?? process.env);
  app.context.sessions = deps.sessions ?? createSessionDirectory({ knex: deps.knex, logger: deps.logger });
  app.context.security = deps.security ?? createSecurityDesk({ knex: deps.knex, logger: deps.logger });
  app.context.liveEvents = deps.liveEvents ?? createLiveEvents({ knex: deps.knex, logger: deps.logger });
  app.silent = true; // errors are logged by problemRenderer, with the request id

  const router = new Router();
  const routes = allRoutes();
  mountSystemRoutes(router, () => routes, deps);
  mountWhatsAppHandshake(router);
  mountRoutes(router, routes);
  mountSandboxPage(router, app.context.paymentProviders.includes('sandbox'));
  mountBookingPayPage(router, app.context.paymentProviders);
  mountUnsubscribePages(router);
  mountCrisisPages(router);
  mountTrackingRoutes(router);
  mountOutboxPages(router);

  app.use(requestContext(deps.logger));
  app.use(securityEvents());
  app.use(problemRenderer());
  app.use(securityHeaders({ hstsMaxAgeSeconds: config.isProduction ? hardening.hstsMaxAgeSeconds : 0 }));
  app.use(blockedAddresses());
  app.use(corsAllowlist(hardening.corsOrigins));
  app.use(requestTimeout(hardening.requestTimeoutMs, /^\/api\/v1\/(contacts\/import|events)$/)); // a 50 MB upload streams for longer; an event stream stays open
  app.use(bodyReader());
  app.use(authenticate(app.context.sessions));
  app.use(blockedAccounts());
  app.use(catalogMicrocache({ ttlMs: config.catalogCacheMs, paths: /^\/api\/v1\/(tours|departures)(\/[^/]+)?$/, audience: (ctx) => catalogAudience(ctx.state.principal) }));
  app.use(consolePages());
  app.use(router.routes());
  app.use(router.allowedMethods()); // sets 405 + Allow (or 501); problemRenderer writes the body
  return app;
}
