/**
 * CyberSentinel's two hands in the API:
 * - a recorder of security events (failed logins, refresh-token reuse, 401/403 answers), kept in
 *   memory and written in one multi-row insert every SECURITY_EVENTS_FLUSH_MS (or at 500 rows), so
 *   a request never waits for it;
 * - a guard that refuses requests from a blocked address (429) or a blocked account (403), from an
 *   in-process copy of the active blocks: reloaded on NOTIFY security_blocks (LISTEN on a
 *   connection of its own) and every SECURITY_BLOCKS_REFRESH_MS as a backstop. No query per request.
 * Addresses in SECURITY_TRUSTED_ADDRESSES (our own hosts, the test runner) are never blocked.
 */
import type Koa from 'koa';
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from '../platform/logger';
import { Problem } from './http/problem';
import { securitySettings } from '../services/security';

export type SecurityEventKind = 'login_failed' | 'refresh_reused' | 'http_401' | 'http_403';

export interface SecurityEvent {
  kind: SecurityEventKind;
  ip: string;
  account?: string | null;
  path?: string | null;
  at?: Date;
}

declare module 'koa' {
  interface DefaultContext {
    security: SecurityDesk;
  }
  interface DefaultState {
    /** Set when this request's security event is already recorded (a failed login), or must not be (a blocked request). */
    securityEventRecorded?: boolean;
  }
}

export interface ActiveBlock {
  id: string;
  scope: 'ip' | 'account';
  value: string;
  userId: string | null;
  expiresAt: number;
}

export interface SecurityDesk {
  record(event: SecurityEvent): void;
  /** Writes what is buffered now (tests, shutdown). */
  flush(): Promise<void>;
  /** Reloads the active blocks now. */
  reload(): Promise<void>;
  blockOf(ip: string, account?: { email?: string | null; userId?: string | null }): ActiveBlock | undefined;
  isTrusted(ip: string): boolean;
  close(): Promise<void>;
}

const MAX_BUFFER = 500;
const MAX_PENDING = 20_000; // past this (database down) events are dropped, not the process

export const SECURITY_BLOCKS_CHANNEL = 'security_blocks';

export function createSecurityDesk(deps: { knex: Knex; logger?: Logger; listen?: boolean }): SecurityDesk {
  const { knex, logger } = deps;
  let buffer: SecurityEvent[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  const trusted = new Set(securitySettings.trustedAddresses().flatMap((a) => [a, a.startsWith('::ffff:') ? a.slice(7) : `::ffff:${a}`]));

  async function write(): Promise<void> {
    while (buffer.length) {
      const batch = buffer.slice(0, MAX_BUFFER);
      try {
        await knex('security_events').insert(batch.map((e) => ({
          kind: e.kind, ip: e.ip.slice(0, 64), account: e.account?.slice(0, 254) ?? null, path: e.path?.slice(0, 200) ?? null, at: e.at ?? new Date(),
        })));
        buffer = buffer.slice(batch.length);
      } catch (err) {
        logger?.warn({ err: (err as Error).message, pending: buffer.length }, 'security events not written; retrying');
        if (buffer.length > MAX_PENDING) buffer = buffer.slice(buffer.length - MAX_PENDING);
        return;
      }
    }
  }
  const flush = (): Promise<void> => {
    flushing ??= write().finally(() => { flushing = undefined; });
    return flushing;
  };
  const flushTimer = setInterval(() => { if (buffer.length) flush().catch(() => undefined); }, securitySettings.flushMs());
  flushTimer.unref();

  // --- active blocks ---------------------------------------------------------------------------
  let byIp = new Map<string, ActiveBlock>();
  let byAccount = new Map<string, ActiveBlock>();
  let loading: Promise<void> | undefined;
  const load = async () => {
    const rows = await knex('security_blocks').whereNull('lifted_at').where('expires_at', '>', new Date())
      .select('id', 'scope', 'value', 'user_id', 'expires_at');
    const ips = new Map<string, ActiveBlock>();
    const accounts = new Map<string, ActiveBlock>();
    for (const r of rows) {
      const block: ActiveBlock = { id: r.id, scope: r.scope, value: r.value, userId: r.user_id, expiresAt: new Date(r.expires_at).getTime() };
      if (r.scope === 'ip') ips.set(r.value, block);
      else {
        accounts.set(r.value.toLowerCase(), block);
        if (r.user_id) accounts.set(`user:${r.user_id}`, block);
      }
    }
    byIp = ips;
    byAccount = accounts;
  };
  const reload = (): Promise<void> => {
    loading ??= load().catch((err) => { logger?.warn({ err: (err as Error).message }, 'security blocks not loaded'); }).finally(() => { loading = undefined; });
    return loading;
  };
  reload();
  const refreshTimer = setInterval(() => { reload(); }, securitySettings.refreshMs());
  refreshTimer.unref();

  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  async function listen(): Promise<void> {
    if (closed) return;
    const connection = (knex.client.config as { connection: string | pg.ClientConfig }).connection;
    const c = new pg.Client(typeof connection === 'string' ? { connectionString: connection } : connection);
    client = c;
    const lost = () => {
      if (client !== c) return;
      client = undefined;
      c.end().catch(() => undefined);
      if (closed) return;
      retry = setTimeout(() => { listen().catch(() => undefined); }, 1000);
      retry.unref();
    };
    c.on('error', lost);
    c.on('end', lost);
    c.on('notification', (msg) => { if (msg.channel === SECURITY_BLOCKS_CHANNEL) reload(); });
    try {
      await c.connect();
      await c.query(`LISTEN ${SECURITY_BLOCKS_CHANNEL}`);
      (c as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
      reload(); // whatever changed before we listened
    } catch {
      lost();
    }
  }
  if (deps.listen !== false) listen().catch(() => undefined);

  const isTrusted = (ip: string) => trusted.has(ip);
  const live = (b: ActiveBlock | undefined) => (b && b.expiresAt > Date.now() ? b : undefined);

  return {
    record(event) {
      if (closed) return;
      buffer.push(event);
      if (buffer.length >= MAX_BUFFER) flush().catch(() => undefined);
    },
    flush,
    reload,
    isTrusted,
    blockOf(ip, account) {
      if (!isTrusted(ip)) {
        const b = live(byIp.get(ip));
        if (b) return b;
      }
      if (account?.userId) {
        const b = live(byAccount.get(`user:${account.userId}`));
        if (b) return b;
      }
      if (account?.email) return live(byAccount.get(account.email.toLowerCase()));
      return undefined;
    },
    async close() {
      closed = true;
      clearInterval(flushTimer);
      clearInterval(refreshTimer);
      clearTimeout(retry);
      await flush().catch(() => undefined);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}

const retryAfter = (block: ActiveBlock) => String(Math.max(1, Math.ceil((block.expiresAt - Date.now()) / 1000)));

/** Early: a blocked address gets 429 before its body is read. */
export function blockedAddresses(): Koa.Middleware {
  return async (ctx, next) => {
    const block = ctx.security.blockOf(ctx.ip);
    if (block) {
      ctx.state.securityEventRecorded = true;
      throw new Problem(429, 'address_blocked', 'Requests from this address are blocked for a while after suspicious activity. Try again later.', { headers: { 'Retry-After': retryAfter(block) } });
    }
    return next();
  };
}

/** After authentication: a blocked account gets 403, whether it calls with a token or tries to log in or refresh. */
export function blockedAccounts(): Koa.Middleware {
  return async (ctx, next) => {
    const body = ctx.request.body as { email?: unknown } | undefined;
    const email = (ctx.path === '/api/v1/auth/login' || ctx.path === '/api/v1/auth/session') && typeof body?.email === 'string' ? body.email : null;
    const block = ctx.security.blockOf('', { userId: ctx.state.principal?.userId, email });
    if (block && block.scope === 'account') {
      ctx.state.securityEventRecorded = true;
      throw new Problem(403, 'account_blocked', 'This account is blocked for a while after suspicious activity. An administrator can lift the block.', { headers: { 'Retry-After': retryAfter(block) } });
    }
    return next();
  };
}

/** Outside the problem renderer: every 401 and 403 answered becomes an event (unless already recorded). */
export function securityEvents(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } finally {
      if ((ctx.status === 401 || ctx.status === 403) && !ctx.state.securityEventRecorded) {
        ctx.security.record({ kind: ctx.status === 401 ? 'http_401' : 'http_403', ip: ctx.ip, account: ctx.state.principal?.userId ? `user:${ctx.state.principal.userId}` : null, path: ctx.state.route ?? ctx.path });
      }
    }
  };
}
