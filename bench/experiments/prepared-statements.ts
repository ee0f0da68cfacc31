/**
 * What-if: every SELECT runs as a named (server-side prepared) statement, so PostgreSQL parses and
 * plans each distinct query text once per connection instead of on every request.
 * Patches pg's Client.query to give `{ text, values }` queries a name derived from the text.
 * Not for production as is: the per-connection statement cache has no bound, so only texts
 * of a bounded set of shapes (like the catalog's) should be named.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { runApi } from './run-api';

type QueryConfig = { text?: string; name?: string; values?: unknown[] };
const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: pg.Client, ...args: unknown[]) {
  const config = args[0] as QueryConfig | undefined;
  if (config && typeof config === 'object' && typeof config.text === 'string' && !config.name && /^\s*select\b/i.test(config.text) && config.text.length < 20000) {
    args[0] = { ...config, name: `bench_${crypto.createHash('sha1').update(config.text).digest('hex').slice(0, 20)}` };
  }
  return original.apply(this, args);
};

runApi('prepared-statements');
