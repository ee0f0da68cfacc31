/**
 * What-if: anonymous GET /api/v1/departures answers come from a 1-second in-process cache of the
 * serialized body, keyed by query string and Accept-Language; concurrent misses share one query.
 * The cache sits after authentication (a token bypasses it: staff and partner answers differ)
 * and after the request-id / access-log / metrics middleware, so those still run on every hit.
 * Seats shown may be up to 1 s old; holds and bookings must (and do) check seats in the database.
 */
import Koa from 'koa';
import { runApi } from './run-api';

const TTL_MS = Number(process.env.BENCH_MICROCACHE_TTL_MS || 1000);
interface Entry { expires: number; body: string; contentLanguage: string }
const cache = new Map<string, Entry>();
const inflight = new Map<string, Promise<Entry | undefined>>();

const microcache: Koa.Middleware = async (ctx, next) => {
  if (ctx.method !== 'GET' || ctx.path !== '/api/v1/departures' || ctx.state.principal) return next();
  const key = `${ctx.querystring}|${ctx.get('accept-language')}`;
  const now = Date.now();
  let entry: Entry | undefined = cache.get(key);
  if (!entry || entry.expires <= now) {
    const pending = inflight.get(key);
    if (pending) {
      entry = await pending;
    } else {
      let resolve!: (e: Entry | undefined) => void;
      inflight.set(key, new Promise((r) => (resolve = r)));
      try {
        await next();
        if (ctx.status === 200 && ctx.body !== undefined) {
          entry = { expires: Date.now() + TTL_MS, body: JSON.stringify(ctx.body), contentLanguage: ctx.response.get('Content-Language') as string };
          cache.set(key, entry);
          if (cache.size > 10000) cache.clear(); // crude bound for the experiment
        }
      } finally {
        inflight.delete(key);
        resolve(entry);
      }
      if (!entry) return; // an error or non-200: the response next() produced stands
    }
    if (!entry) return next();
  }
  ctx.state.route = '/api/v1/departures';
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.set('Content-Language', entry.contentLanguage);
  ctx.vary('Accept-Language');
  ctx.body = entry.body;
};

// createApp() builds the middleware list; insert ours just before the router (after authenticate).
const originalCallback = Koa.prototype.callback;
Koa.prototype.callback = function (this: Koa) {
  const routerIndex = this.middleware.findIndex((m) => (m as { router?: unknown }).router !== undefined); // router.routes()
  if (routerIndex < 0) throw new Error('microcache experiment: router.routes() middleware not found');
  this.middleware.splice(routerIndex, 0, microcache);
  return originalCallback.call(this);
};

runApi('microcache');
