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
 *
 * Bounded: a least-recently-used cache limited by entries AND by bytes, keyed by the path, the
 * query parameters in a fixed order and the language the answer is in (negotiated from
 * Accept-Language, not the raw header), so random query strings or headers only churn the
 * cache, never grow it.
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

/** A least-recently-used map bounded by entry count and by the summed `size` of its values. */
export class BoundedLru<V> {
  private readonly map = new Map<string, { value: V; size: number }>();
  private used = 0;

  constructor(readonly maxEntries: number, readonly maxBytes: number, private readonly sizeOf: (value: V) => number) {
    if (maxEntries < 1 || maxBytes < 1) throw new Error('BoundedLru needs maxEntries >= 1 and maxBytes >= 1');
  }

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.used;
  }

  get(key: string): V | undefined {
    const slot = this.map.get(key);
    if (!slot) return undefined;
    this.map.delete(key); // a Map iterates in insertion order: re-inserting marks it most recent
    this.map.set(key, slot);
    return slot.value;
  }

  set(key: string, value: V): void {
    this.delete(key);
    const size = this.sizeOf(value);
    if (size > this.maxBytes) return; // larger than the whole cache: not kept
    this.map.set(key, { value, size });
    this.used += size;
    while (this.map.size > this.maxEntries || this.used > this.maxBytes) this.delete(this.map.keys().next().value!);
  }

  delete(key: string): void {
    const slot = this.map.get(key);
    if (!slot) return;
    this.map.delete(key);
    this.used -= slot.size;
  }
}

export interface MicrocacheOptions {
  ttlMs: number;
  paths: RegExp;
  /** At most this many answers (default 5,000). */
  maxEntries?: number;
  /** At most this many bytes of answer bodies (default 32 MiB). */
  maxBytes?: number;
  /** Languages the answers come in, first the default (default ['en', 'es']). */
  languages?: string[];
  /** Who shares an answer (default: anonymous callers only). */
  audience?: CacheAudience;
}

/** The cache key: path, query parameters sorted by name (then value), and the negotiated language. */
export function microcacheKey(ctx: Koa.Context, languages: string[]): string {
  const params = new URLSearchParams(ctx.querystring);
  const pairs = [...params].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  const language = ctx.acceptsLanguages(languages) || languages[0];
  return `${ctx.path}?${new URLSearchParams(pairs).toString()}|${language}`;
}

export function catalogMicrocache(options: MicrocacheOptions): Koa.Middleware & { cache: BoundedLru<Entry> } {
  const cache = new BoundedLru<Entry>(options.maxEntries ?? 5000, options.maxBytes ?? 32 * 1024 * 1024, (e) => e.body.length * 2 + e.route.length + 64);
  const inflight = new Map<string, Promise<Entry | undefined>>();
  const languages = options.languages ?? ['en', 'es'];
  const audienceOf = options.audience ?? anonymousOnly;
  const cacheControl = (audience: string) => `${audience === PUBLIC_AUDIENCE ? 'public' : 'private'}, max-age=${Math.max(1, Math.round(options.ttlMs / 1000))}`;

  const serve = (ctx: Koa.Context, entry: Entry, state: 'hit' | 'shared', audience: string) => {
    ctx.state.route = entry.route;
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.set('Content-Language', entry.contentLanguage);
    ctx.set('Cache-Control', cacheControl(audience));
    ctx.set('X-Cache', state);
    ctx.vary('Accept-Language');
    ctx.vary('Authorization');
    ctx.body = entry.body;
  };

  const middleware: Koa.Middleware = async (ctx, next) => {
    if (options.ttlMs <= 0 || ctx.method !== 'GET' || !options.paths.test(ctx.path)) return next();
    const audience = audienceOf(ctx);
    if (audience === undefined) return next();
    const key = `${audience}|${microcacheKey(ctx, languages)}`;
    const cached = cache.get(key);
    if (cached && cached.expires > Date.now()) return serve(ctx, cached, 'hit', audience);
    if (cached) cache.delete(key);
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
          expires: Date.now() + options.ttlMs, body: JSON.stringify(ctx.body), route: ctx.state.route ?? 'unmatched',
          contentLanguage: String(ctx.response.get('Content-Language') || languages[0]),
        };
        cache.set(key, entry);
        ctx.body = entry.body;
        ctx.type = 'application/json';
        ctx.set('X-Cache', 'miss');
        ctx.set('Cache-Control', cacheControl(audience));
        ctx.vary('Authorization');
      }
    } finally {
      inflight.delete(key);
      settle(entry);
    }
  };
  return Object.assign(middleware, { cache });
}
