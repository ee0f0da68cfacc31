/** Operational routes: health, metrics, the OpenAPI document and its interactive docs page. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type Koa from 'koa';
import type Router from '@koa/router';
import { z } from 'zod';
import { checkHealth } from '../health';
import { registry } from '../metrics';
import { buildOpenApi } from '../openapi';
import type { AnyRoute } from '../http/routes';
import { route } from '../http/routes';
import type { ApiDeps } from '../app';
import { config } from '../../platform/config';
import { Problem } from '../http/problem';
import { whatsAppHealth } from '../../integrations/whatsapp';

const check = z.object({ ok: z.boolean(), latencyMs: z.int(), error: z.string().optional() });
const whatsapp = z.object({
  channel: z.enum(['simulator', 'cloud', 'web']), state: z.enum(['ready', 'starting', 'qr', 'disconnected', 'misconfigured', 'unknown']), detail: z.string().optional(), updatedAt: z.string().optional(),
}).describe('The WhatsApp channel (informational: it does not make /health fail). simulator: ready; cloud: ready or misconfigured; web: the whatsapp-web.js session its worker last reported');

export const healthRoute = route({
  method: 'GET', path: '/health', operationId: 'health', tag: 'System', auth: 'public',
  summary: 'Readiness: checks PostgreSQL and Temporal for real',
  responses: {
    200: { description: 'Both answer', schema: z.object({ status: z.literal('ok'), checks: z.object({ postgres: check, temporal: check }), whatsapp }) },
    503: { description: 'One of them does not answer; the body says which' },
  },
  handler: async (ctx) => {
    const [result, channel] = await Promise.all([
      checkHealth(ctx.knex, ctx.temporal),
      whatsAppHealth(ctx.knex).catch(() => ({ channel: config.whatsapp.channel, state: 'unknown' as const, detail: 'the session state could not be read' })),
    ]);
    return { status: result.status === 'ok' ? 200 : 503, body: { ...result, whatsapp: channel }, headers: { 'Cache-Control': 'no-store' } };
  },
});

const SWAGGER_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const SWAGGER_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spirit Tours API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/api/docs/swagger-ui.css"><link rel="icon" href="/api/docs/favicon-32x32.png"></head>
<body><div id="docs"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/docs-init.js"></script>
</body></html>`;

// Served as a file (not inline) so a strict Content-Security-Policy can forbid inline scripts.
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#docs', deepLinking: true, persistAuthorization: true });`;

export function mountSystemRoutes(router: Router, routes: () => AnyRoute[], deps: ApiDeps): void {
  let openapi: string | undefined;
  router.get('/api/v1/openapi.json', (ctx: Koa.Context) => {
    ctx.state.route = '/api/v1/openapi.json';
    openapi ??= JSON.stringify(buildOpenApi(routes(), deps.publicUrl));
    ctx.type = 'application/json';
    ctx.body = openapi;
  });
  router.get('/metrics', async (ctx: Koa.Context) => {
    ctx.state.route = '/metrics';
    const token = config.metricsToken;
    if (token) {
      const given = Buffer.from(/^Bearer (.+)$/i.exec(ctx.get('authorization'))?.[1] ?? '');
      const expected = Buffer.from(token);
      if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
        throw new Problem(401, 'unauthorized', 'GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>".', { headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' } });
      }
    }
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  router.get('/api/docs', (ctx: Koa.Context) => {
    ctx.state.route = '/api/docs';
    ctx.set('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
    ctx.type = 'html';
    ctx.body = DOCS_PAGE;
  });
  router.get('/api/docs/:file', (ctx: Koa.Context) => {
    ctx.state.route = '/api/docs/{file}';
    const file = ctx.params.file as string;
    if (file === 'docs-init.js') {
      ctx.type = 'application/javascript; charset=utf-8';
      ctx.body = DOCS_INIT;
      return;
    }
    const type = SWAGGER_FILES[file];
    if (!type) return; // falls through to the 404 problem
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.type = type;
    ctx.body = fs.createReadStream(path.join(SWAGGER_DIR, file));
  });
}
