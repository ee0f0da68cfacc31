/**
 * A one-second cache for anonymous catalog reads (micro-caching). Availability is the hottest
 * read of the platform; a burst of identical anonymous requests is answered from one query,
 * and concurrent misses share that query. A token bypasses it (staff and partner answers
 * differ). Seats shown may be up to `ttlMs` old, which is why a hold never trusts them: it
 * checks seats in the database, in its own transaction.
 */
import type Koa from 'koa';

interface Entry {
  expires: number;
  body: string;
  route: string;
  contentLanguage: string;
}

export function catalogMicrocache(options: { ttlMs: number; maxEntries?: number; paths: RegExp }): Koa.Middleware {
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry | undefined>>();
  const maxEntries = options.maxEntries ?? 5000;

  const serve = (ctx: Koa.Context, entry: Entry, state: 'hit' | 'shared') => {
    ctx.state.route = entry.route;
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.set('Content-Language', entry.contentLanguage);
    ctx.set('Cache-Control', `public, max-age=${Math.max(1, Math.round(options.ttlMs / 1000))}`);
    ctx.set('X-Cache', state);
    ctx.vary('Accept-Language');
    ctx.body = entry.body;
  };

  return async (ctx, next) => {
    if (options.ttlMs <= 0 || ctx.method !== 'GET' || ctx.state.principal || !options.paths.test(ctx.path)) return next();
    const key = `${ctx.path}?${ctx.querystring}|${ctx.get('accept-language')}`;
    const cached = cache.get(key);
    if (cached && cached.expires > Date.now()) return serve(ctx, cached, 'hit');
    const pending = inflight.get(key);
    if (pending) {
      const shared = await pending;
      return shared ? serve(ctx, shared, 'shared') : next();
    }
    let settle!: (entry: Entry | undefined) => void;
    inflight.set(key, new Promise((resolve) => (settle = resolve)));
    let entry: Entry | undefined;
    try {
      await next();
      if (ctx.status === 200 && ctx.body !== undefined && typeof ctx.body === 'object') {
        entry = {
          expires: Date.now() + options.ttlMs, body: JSON.stringify(ctx.body), route: ctx.state.route ?? ctx.path,
          contentLanguage: String(ctx.response.get('Content-Language') || 'en'),
        };
        if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!); // oldest first
        cache.set(key, entry);
        ctx.body = entry.body;
        ctx.type = 'application/json';
        ctx.set('X-Cache', 'miss');
      }
    } finally {
      inflight.delete(key);
      settle(entry);
    }
  };
}
