/**
 * A one-second cache for catalog reads (micro-caching). Availability is the hottest read of the
 * platform; a burst of identical requests is answered from one query, and concurrent misses share
 * that query. Entries are kept per AUDIENCE: callers whose answers are byte for byte the same
 * (`audience(ctx)` returns the same string; the route module knows who that is), so a signed-in
 * customer is served the anonymous answer while a partner only ever sees entries made for that
 * partner. `undefined` bypasses the cache (staff, who see live seat counts). Only the 'public'
 * audience's answers are marked `public` for shared caches; the others are `private`.
 * Seats shown may be up to `ttlMs` old, which is why a hold never trusts them: it checks seats in
 * the database, in its own transaction.
 */
import type Koa from 'koa';

/** Who shares one cached answer; undefined: not cached. Default: anonymous callers only. */
export type CacheAudience = (ctx: Koa.Context) => string | undefined;
export const PUBLIC_AUDIENCE = 'public';
const anonymousOnly: CacheAudience = (ctx) => (ctx.state.principal ? undefined : PUBLIC_AUDIENCE);

interface Entry {
  expires: number;
  body: string;
  route: string;
  contentLanguage: string;
}

export function catalogMicrocache(options: { ttlMs: number; maxEntries?: number; paths: RegExp; audience?: CacheAudience }): Koa.Middleware {
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry | undefined>>();
  const maxEntries = options.maxEntries ?? 5000;
  const audienceOf = options.audience ?? anonymousOnly;
  const maxAge = Math.max(1, Math.round(options.ttlMs / 1000));

  const serve = (ctx: Koa.Context, entry: Entry, state: 'hit' | 'shared', audience: string) => {
    ctx.state.route = entry.route;
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.set('Content-Language', entry.contentLanguage);
    ctx.set('Cache-Control', `${audience === PUBLIC_AUDIENCE ? 'public' : 'private'}, max-age=${maxAge}`);
    ctx.set('X-Cache', state);
    ctx.vary('Accept-Language');
    ctx.vary('Authorization');
    ctx.body = entry.body;
  };

  return async (ctx, next) => {
    if (options.ttlMs <= 0 || ctx.method !== 'GET' || !options.paths.test(ctx.path)) return next();
    const audience = audienceOf(ctx);
    if (audience === undefined) return next();
    const key = `${audience}|${ctx.path}?${ctx.querystring}|${ctx.get('accept-language')}`;
    const cached = cache.get(key);
    if (cached && cached.expires > Date.now()) return serve(ctx, cached, 'hit', audience);
    const pending = inflight.get(key);
    if (pending) {
      const shared = await pending;
      return shared ? serve(ctx, shared, 'shared', audience) : next();
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
        ctx.set('Cache-Control', `${audience === PUBLIC_AUDIENCE ? 'public' : 'private'}, max-age=${maxAge}`);
        ctx.vary('Authorization');
      }
    } finally {
      inflight.delete(key);
      settle(entry);
    }
  };
}
