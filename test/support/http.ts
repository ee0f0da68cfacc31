/** A small HTTP client for tests: JSON in, status + headers + parsed body out. */
import { stack } from './stack';
import { DEMO_PASSWORD } from '../../scripts/demo-seed';

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function api<T = any>(method: string, path: string, options: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${stack().baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, body: type.includes('json') && text ? JSON.parse(text) : (text as T) };
}

const tokens = new Map<string, string>();

/** An access token for a demo user (cached per run). */
export async function loginAs(role: 'admin' | 'operator' | 'marketer' | 'accountant' | 'partner' | 'customer'): Promise<string> {
  const cached = tokens.get(role);
  if (cached) return cached;
  const res = await api('POST', '/api/v1/auth/login', { body: { email: `${role}@demo.test`, password: DEMO_PASSWORD } });
  if (res.status !== 200) throw new Error(`login as ${role} failed: ${res.status} ${JSON.stringify(res.body)}`);
  tokens.set(role, res.body.accessToken);
  return res.body.accessToken;
}
