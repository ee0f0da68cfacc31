import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { expect } from 'chai';
import { api } from '../support/http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { BoundedLru, catalogMicrocache } from '../../api/http/microcache';
import { problemRenderer, requestContext, requestTimeout } from '../../api/http/middleware';
import { stack } from '../support/stack';

async function serve(app: Koa) {
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

async function seriesCount(): Promise<number> {
  const res = await api('GET', '/metrics');
  expect(res.status).to.equal(200);
  return String(res.body).split('\n').filter((l) => l.startsWith('spirit_http_request_duration_seconds_count{')).length;
}

const random = () => crypto.randomBytes(6).toString('hex');

describe('bounded resources', () => {
  it('labels metrics by route template: 150 requests to random paths add no series', async () => {
    const kinds = [
      () => `/${random()}`, () => `/api/v1/${random()}/${random()}`, () => `/api/v1/tours/${random()}`, () => `/u/${random()}`,
      () => `/pay/return/${random()}`, () => `/pay/sandbox/${random()}`, () => `/e/o/${random()}`, () => `/api/v1/departures/${crypto.randomUUID()}`,
    ];
    for (const kind of kinds) for (const method of ['GET', 'DELETE']) await api(method, kind()); // each (method, route, status) series exists once
    await seriesCount(); // /metrics itself is counted after it answers
    const before = await seriesCount();
    for (let i = 0; i < 150; i++) await api(i % 10 === 0 ? 'DELETE' : 'GET', kinds[i % kinds.length]());
    expect(await seriesCount()).to.equal(before);
    const text = String((await api('GET', '/metrics')).body);
    expect(text).to.include('route="unmatched"');
    expect(text).to.include('route="/u/{token}"');
    expect(text).to.not.match(/route="\/u\/[0-9a-f]{12}"/);
  });

  it('never logs a capability URL (unsubscribe, payment pages, tracking links), only its template', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
    const app = new Koa();
    app.use(requestContext(logger as never));
    app.use(problemRenderer());
    const Router = (await import('@koa/router')).default;
    const router = new Router();
    router.get('/u/:token', (ctx) => { ctx.body = 'page'; });
    router.get('/pay/return/:bookingId', (ctx) => { ctx.body = 'page'; });
    app.use(router.routes());
    const server = await serve(app);
    try {
      await fetch(`${server.base}/u/SECRET-TOKEN-1`);
      await fetch(`${server.base}/pay/return/SECRET-TOKEN-2`);
      await fetch(`${server.base}/e/c/SECRET-TOKEN-3?u=x&s=y`);
    } finally {
      await server.close();
    }
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.map((r) => r.route)).to.deep.equal(['/u/{token}', '/pay/return/{bookingId}', 'unmatched']);
    expect(lines.join('\n')).to.not.include('SECRET-TOKEN');
  });

  it('a request running past REQUEST_TIMEOUT_MS is a 503 problem; the database cancels a statement past its timeout', async () => {
    const app = new Koa();
    app.use(requestContext(pino({ level: 'silent' }) as never));
    app.use(problemRenderer());
    app.use(requestTimeout(200, /^\/upload$/));
    app.use(async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      ctx.body = { late: true };
    });
    const server = await serve(app);
    try {
      const slow = await fetch(`${server.base}/slow`);
      expect(slow.status).to.equal(503);
      expect(((await slow.json()) as { code: string }).code).to.equal('request_timeout');
      expect((await fetch(`${server.base}/upload`)).status).to.equal(200); // exempt
    } finally {
      await server.close();
    }
    const { rows } = await stack().knex.raw('show statement_timeout');
    expect(rows[0].statement_timeout).to.equal('15s');
    let cancelled: { code?: string } | undefined;
    await stack().knex.transaction(async (trx) => {
      await trx.raw("set local statement_timeout = '100ms'");
      await trx.raw('select pg_sleep(2)');
    }).catch((err) => (cancelled = err));
    expect(cancelled?.code).to.equal('57014');
  });

  describe('catalog cache', () => {
    it('BoundedLru keeps at most maxEntries and maxBytes, evicting the least recently used', () => {
      const lru = new BoundedLru<string>(3, 10, (v) => v.length);
      lru.set('a', 'aa');
      lru.set('b', 'bb');
      lru.set('c', 'cc');
      expect(lru.get('a')).to.equal('aa'); // a is now the most recent
      lru.set('d', 'dd'); // over 3 entries: b goes
      expect(lru.get('b')).to.equal(undefined);
      expect(lru.size).to.equal(3);
      lru.set('e', 'eeeeee'); // 2+2+2+6 = 12 bytes > 10: the oldest go until it fits
      expect(lru.bytes).to.be.at.most(10);
      expect(lru.get('e')).to.equal('eeeeee');
      lru.set('huge', 'x'.repeat(11)); // larger than the cache: not kept, nothing else lost for it
      expect(lru.get('huge')).to.equal(undefined);
      expect(lru.get('e')).to.equal('eeeeee');
    });

    async function cachedApp(options: { maxEntries?: number; maxBytes?: number }) {
      let queries = 0;
      const middleware = catalogMicrocache({ ttlMs: 60_000, paths: /^\/tours/, ...options });
      const app = new Koa();
      app.use(middleware);
      app.use(async (ctx) => {
        queries++;
        const language = ctx.acceptsLanguages('en', 'es') || 'en';
        ctx.set('Content-Language', language);
        ctx.body = { language, query: ctx.querystring, padding: 'x'.repeat(100) };
      });
      const server = http.createServer(app.callback());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return {
        middleware, queries: () => queries, close: () => new Promise((resolve) => server.close(resolve)),
        get: async (path: string, headers: Record<string, string> = {}) => {
          const res = await fetch(base + path, { headers });
          return { cache: res.headers.get('x-cache'), body: (await res.json()) as { language: string } };
        },
      };
    }

    it('keys by the negotiated language and the query in a fixed order, not the raw header', async () => {
      const app = await cachedApp({});
      try {
        expect((await app.get('/tours?a=1&b=2', { 'accept-language': 'es-ES,es;q=0.9' })).cache).to.equal('miss');
        expect((await app.get('/tours?b=2&a=1', { 'accept-language': 'es' })).cache).to.equal('hit');
        expect((await app.get('/tours?b=2&a=1', { 'accept-language': `es;q=0.9, x-${random()};q=0.1` })).cache).to.equal('hit');
        const english = await app.get('/tours?a=1&b=2', { 'accept-language': 'en-GB' });
        expect(english.cache).to.equal('miss');
        expect(english.body.language).to.equal('en');
        expect((await app.get('/tours?a=1&b=2', { 'accept-language': random() })).cache).to.equal('hit'); // unknown → the default, en
        expect(app.queries()).to.equal(2);
        expect(app.middleware.cache.size).to.equal(2);
      } finally {
        await app.close();
      }
    });

    it('stays within its entry and byte bounds under random query strings', async () => {
      const app = await cachedApp({ maxEntries: 50, maxBytes: 20_000 });
      try {
        for (let i = 0; i < 300; i++) await app.get(`/tours?q=${random()}`, { 'accept-language': random() });
        expect(app.middleware.cache.size).to.be.at.most(50);
        expect(app.middleware.cache.bytes).to.be.at.most(20_000);
        expect(app.middleware.cache.size).to.be.greaterThan(10);
      } finally {
        await app.close();
      }
    });
  });
});
