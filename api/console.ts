/**
 * Serves the operator console's built files (console/dist, made by scripts/console-build.ts)
 * under /console. Hashed assets are cached for a year; every other path under /console is the
 * single-page app's index.html (its router decides), never cached. Files are read and gzipped
 * once per process.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type Koa from 'koa';
import { projectRoot } from '../platform/config';
import { Problem } from './http/problem';

export const consoleDist = () => process.env.CONSOLE_DIST ?? path.join(projectRoot, 'console', 'dist');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2', '.json': 'application/json', '.ico': 'image/x-icon',
};

interface Asset { body: Buffer; gzipped: Buffer; type: string }

export function consolePages(dist = consoleDist()): Koa.Middleware {
  const cache = new Map<string, Asset>();
  const load = (file: string): Asset | undefined => {
    const hit = cache.get(file);
    if (hit) return hit;
    let body: Buffer;
    try {
      body = fs.readFileSync(file);
    } catch {
      return undefined;
    }
    const asset = { body, gzipped: zlib.gzipSync(body), type: TYPES[path.extname(file)] ?? 'application/octet-stream' };
    cache.set(file, asset);
    return asset;
  };
  const send = (ctx: Koa.Context, asset: Asset, cacheControl: string) => {
    ctx.set('Cache-Control', cacheControl);
    ctx.set('Vary', 'Accept-Encoding');
    ctx.type = asset.type;
    if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = asset.gzipped;
    } else {
      ctx.body = asset.body;
    }
  };

  return async (ctx, next) => {
    if (ctx.path !== '/console' && !ctx.path.startsWith('/console/')) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/console') {
      ctx.status = 301;
      return ctx.redirect('/console/');
    }
    let rest: string;
    try {
      rest = decodeURIComponent(ctx.path.slice('/console/'.length));
    } catch {
      throw new Problem(404, 'not_found', 'No such console file.'); // a malformed %-escape names no file
    }
    if (rest.startsWith('assets/')) {
      const file = path.join(dist, path.normalize(rest));
      if (!file.startsWith(path.join(dist, 'assets') + path.sep)) throw new Problem(404, 'not_found', 'No such console file.');
      const asset = load(file);
      if (!asset) throw new Problem(404, 'not_found', `No console file ${rest}; the console may have been rebuilt: reload the page.`);
      return send(ctx, asset, 'public, max-age=31536000, immutable');
    }
    // Re-read index.html each time: a rebuild while the API runs must be picked up.
    cache.delete(path.join(dist, 'index.html'));
    const index = load(path.join(dist, 'index.html'));
    if (!index) {
      throw new Problem(503, 'console_not_built', 'The operator console has not been built. Run `npm run console:build` (npm start does it for you).');
    }
    send(ctx, index, 'no-cache');
  };
}
