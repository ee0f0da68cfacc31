/** Helpers for the account tests (sessions, users, rate limits): fresh users, logins, a second API instance. */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type ApiDeps } from '../../api/app';
import { hashPassword } from '../../services/passwords';
import { logger } from '../../platform/logger';
import { lazyTemporal } from '../../platform/temporal';
import type { Role } from '../../models';
import { api, type Reply } from '../support/http';
import { stack } from '../support/stack';

export const PASSWORD = 'correct horse battery staple';

/** A user of its own per test, so counters and sessions of one test never touch another's. */
export async function createUser(role: Role = 'marketer', extra: Record<string, unknown> = {}): Promise<{ id: string; email: string }> {
  const { knex } = stack();
  const email = `${role}-${crypto.randomBytes(4).toString('hex')}@accounts.test`;
  const scope: Record<string, unknown> = {};
  if (role === 'operator' || role === 'accountant') scope.branch_id = (await knex('branches').first('id')).id; // both belong to a branch
  if (role === 'partner') scope.partner_id = (await knex('partners').first('id')).id;
  if (role === 'customer') {
    const [c] = await knex('customers').insert({ first_name: 'Test', last_name: 'Account', email, language: 'es' }).returning('id');
    scope.customer_id = c.id;
  }
  const [row] = await knex('users').insert({ email, name: `Test ${role}`, role, password_hash: await hashPassword(PASSWORD), ...scope, ...extra }).returning('id');
  return { id: row.id, email };
}

export async function login(email: string, password = PASSWORD, baseUrl?: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(baseUrl, 'POST', '/api/v1/auth/login', { body: { email, password }, headers });
}

/** Like api(), against another base URL when given. */
export async function request(baseUrl: string | undefined, method: string, path: string, options: { body?: unknown; token?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  if (!baseUrl) return api(method, path, options);
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (res.headers.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) : text };
}

/**
 * A second API instance on the same database (its own session cache and LISTEN connection), as
 * another replica behind the load balancer would be. `trustProxy` lets a test speak from many
 * addresses through X-Forwarded-For.
 */
export async function startInstance(options: { trustProxy?: boolean; paymentEnv?: ApiDeps['paymentEnv'] } = {}): Promise<{ baseUrl: string; app: ReturnType<typeof createApp>; close: () => Promise<void> }> {
  const temporal = lazyTemporal(stack().temporalAddress);
  const before = process.env.TRUST_PROXY;
  if (options.trustProxy) process.env.TRUST_PROXY = '1';
  const app = createApp({ knex: stack().knex, temporalConnection: temporal.connection, temporalClient: temporal.client, logger, paymentEnv: options.paymentEnv });
  if (before === undefined) delete process.env.TRUST_PROXY;
  else process.env.TRUST_PROXY = before;
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    app,
    close: async () => {
      await app.context.liveEvents.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.context.sessions.close();
      await temporal.close();
    },
  };
}

/** A documentation-range address (RFC 5737) of its own per call, for X-Forwarded-For. */
export function address(): string {
  const n = crypto.randomBytes(2);
  return `203.0.${n[0]}.${n[1]}`;
}
