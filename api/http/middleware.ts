/** Small Koa middleware, one job each: request id, access log + metrics, errors, raw body. */
import crypto from 'node:crypto';
import type Koa from 'koa';
import type { Logger } from '../../platform/logger';
import { httpRequestDuration } from '../metrics';
import { Problem, problemBody } from './problem';

declare module 'koa' {
  interface DefaultState {
    requestId: string;
    log: Logger;
    /** The matched route template, for metrics and logs (e.g. /api/v1/tours/{id}). */
    route?: string;
  }
  interface Request {
    rawBody?: Buffer;
    body?: unknown;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Paths that are capabilities (whoever holds the URL may act): logged by their template only. */
const CAPABILITY_PATH = /^\/(u|pay|e)\//;

/**
 * The label a request is counted and logged under: the template of the route that matched
 * (a declared route sets ctx.state.route; one mounted on the router directly is read back from
 * the router's own match, `:name` written `{name}`), else the single label `unmatched`. Never
 * the raw path: every distinct label is a new series in /metrics.
 */
export function routeLabel(ctx: Koa.Context): string {
  if (ctx.state.route) return ctx.state.route;
  const matched = (ctx as Koa.Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  if (typeof matched === 'string' && ctx.status !== 404) return matched.replace(/:(\w+)/g, '{$1}');
  return 'unmatched';
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function requestContext(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    ctx.state.log = logger.child({ requestId });
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The server's own time, beside the client's: what the console's and the benches' timings separate.
      if (!ctx.headerSent) ctx.set('Server-Timing', `app;dur=${(seconds * 1000).toFixed(1)}`);
      const route = routeLabel(ctx);
      // An unknown method would be a label of its own too.
      const method = KNOWN_METHODS.has(ctx.method) ? ctx.method : 'OTHER';
      httpRequestDuration.observe({ method, route, status: String(ctx.status) }, seconds);
      const path = CAPABILITY_PATH.test(ctx.path) ? route : ctx.path; // a token in a URL is a key: never in the logs
      ctx.state.log.info({ method, path, route, status: ctx.status, ms: Math.round(seconds * 1e4) / 10 }, 'request');
    }
  };
}

/** The one place errors become responses. A client's mistake is a 4xx; anything else is a 500 without internals. */
export function problemRenderer(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined || ctx.body === null) {
        if (ctx.status === 404) throw new Problem(404, 'route_not_found', `No route for ${ctx.method} ${ctx.path}. The API is described at /api/v1/openapi.json.`);
        if (ctx.status === 405) throw new Problem(405, 'method_not_allowed', `${ctx.path} does not accept ${ctx.method}; it accepts ${ctx.response.get('Allow')}.`);
        if (ctx.status === 501) throw new Problem(501, 'method_not_implemented', `The method ${ctx.method} is not supported.`);
      }
    } catch (err) {
      let problem: Problem;
      if (err instanceof Problem) problem = err;
      else {
        const status = (err as { status?: number; expose?: boolean }).status;
        if (status && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
          problem = new Problem(status, 'bad_request', (err as Error).message);
        } else {
          ctx.state.log.error({ err }, 'unhandled error');
          problem = new Problem(500, 'internal_error', 'Something went wrong on our side. The request id identifies it in our logs.');
        }
      }
      ctx.status = problem.status;
      for (const [name, value] of Object.entries(problem.extra.headers ?? {})) ctx.set(name, value);
      ctx.body = problemBody(problem, ctx.state.requestId, ctx.path);
      ctx.type = 'application/problem+json';
    }
  };
}

/**
 * Reads the body once, keeping the raw bytes (webhook signatures are computed over them) and
 * parsing JSON. Only JSON is accepted on /api routes; other routes may read rawBody themselves.
 * text/csv bodies are left unread for the route to stream (and limit) itself.
 */
const MAX_JSON_DEPTH = 64;

/** How deep arrays and objects nest in a JSON text (strings skipped), without parsing it. */
export function jsonDepth(raw: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export function bodyReader(limitBytes = 1024 * 1024): Koa.Middleware {
  return async (ctx, next) => {
    if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(ctx.method)) return next();
    if (ctx.is('text/csv')) return next(); // a CSV upload is streamed by its route (contact import), never buffered
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > limitBytes) throw new Problem(413, 'body_too_large', `The request body is larger than ${limitBytes} bytes.`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      size += (chunk as Buffer).length;
      if (size > limitBytes) throw new Problem(413, 'body_too_large', `The request body is larger than ${limitBytes} bytes.`);
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    ctx.request.rawBody = raw;
    if (raw.length > 0 && ctx.is('application/json', 'application/*+json')) {
      // A 1 MB body can nest ~250,000 levels: validating that recursively overflows the stack (a 500).
      if (jsonDepth(raw) > MAX_JSON_DEPTH) throw new Problem(400, 'json_too_deep', `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`);
      try {
        ctx.request.body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        throw new Problem(400, 'invalid_json', `The request body is not valid JSON: ${(err as Error).message}`);
      }
    }
    return next();
  };
}

/**
 * Security headers on every answer (what helmet would set, written out: six headers do not
 * need a dependency). A page that needs a narrower policy (the unsubscribe page) sets its own
 * Content-Security-Policy, which is kept. HSTS only in production, where PUBLIC_URL is https.
 */
export function securityHeaders(options: { hstsMaxAgeSeconds: number }): Koa.Middleware {
  const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
  return async (ctx, next) => {
    try {
      await next();
    } finally {
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', ctx.response.get('Referrer-Policy') || 'no-referrer');
      ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
      ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
      // A page with its own policy decides its framing (the development outbox frames its messages).
      if (!ctx.response.get('Content-Security-Policy')) {
        ctx.set('Content-Security-Policy', csp);
        ctx.set('X-Frame-Options', 'DENY');
      }
      if (options.hstsMaxAgeSeconds > 0) ctx.set('Strict-Transport-Security', `max-age=${options.hstsMaxAgeSeconds}; includeSubDomains`);
    }
  };
}

/**
 * CORS for an explicit list of origins (CORS_ORIGINS), exact match; any other origin gets no
 * CORS headers (the browser refuses) and its preflight a 403. Bearer tokens, no cookies: no
 * credentials mode.
 */
export function corsAllowlist(origins: readonly string[]): Koa.Middleware {
  const allowed = new Set(origins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    if (!origin) return next();
    ctx.vary('Origin');
    const ok = allowed.has(origin.toLowerCase());
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      if (!ok) throw new Problem(403, 'origin_not_allowed', `The origin ${origin} may not call this API from a browser.`);
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE');
      ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, Idempotency-Key, X-Request-Id');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    if (ok) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Expose-Headers', 'X-Request-Id, Location, Retry-After, X-Cache, Idempotent-Replayed');
    }
    return next();
  };
}

/**
 * A request unanswered after `ms` gets a 503 problem (the work it started may still finish: a
 * state change is one transaction, so it is whole or absent). Streamed uploads are exempt.
 */
export function requestTimeout(ms: number, exempt: RegExp): Koa.Middleware {
  return async (ctx, next) => {
    if (ms <= 0 || exempt.test(ctx.path)) return next();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Problem(503, 'request_timeout', `The request took longer than ${ms} ms and was abandoned; try again (with the same Idempotency-Key for a change).`, {
        headers: { 'Retry-After': '5' },
      })), ms);
    });
    try {
      await Promise.race([next(), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
}
