/**
 * The browser session. The access token lives only in this module's memory; the refresh token
 * is an httpOnly SameSite=Strict cookie the script never sees, spent at
 * /api/v1/auth/session/refresh with the CSRF token (double submit: the readable st_csrf cookie
 * echoed in X-CSRF-Token). Tabs share the cookie, so refreshes are serialised across tabs with
 * a Web Lock: a tab that waited then spends the cookie the other tab just rotated, never a spent one.
 */
export interface SessionUser {
  id: string;
  email: string;
  name?: string | null;
  role: 'admin' | 'operator' | 'marketer' | 'accountant' | 'partner' | 'customer';
  branchId?: string | null;
  branchCode?: string | null;
  partnerId?: string | null;
  customerId?: string | null;
}

interface SessionAnswer { accessToken: string; expiresIn: number; user: SessionUser; csrfToken?: string }

let accessToken: string | null = null;
let user: SessionUser | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(u: SessionUser | null) => void>();

export function currentUser(): SessionUser | null { return user; }
export function currentAccessToken(): string | null { return accessToken; }
export function onSessionChange(fn: (u: SessionUser | null) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)st_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

// Signing out in one tab signs out every tab of this browser (they share the refresh cookie).
const tabs = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel('spirit-session') : null;
tabs?.addEventListener('message', (e) => { if (e.data === 'logout' && user) adopt(null); });

function adopt(answer: SessionAnswer | null) {
  clearTimeout(refreshTimer);
  accessToken = answer?.accessToken ?? null;
  user = answer?.user ?? null;
  if (answer) {
    // Renew a little before expiry so a request never goes out with a dead token.
    const inMs = Math.max(5_000, (answer.expiresIn - 30) * 1000);
    refreshTimer = setTimeout(() => { void refreshSession(); }, inMs);
  }
  for (const fn of listeners) fn(user);
}

export class LoginError extends Error {
  constructor(message: string, readonly status: number, readonly code?: string) { super(message); }
}

async function problemMessage(res: Response): Promise<{ detail: string; code?: string }> {
  try {
    const body = await res.json();
    return { detail: body.detail ?? body.title ?? res.statusText, code: body.code };
  } catch {
    return { detail: res.statusText };
  }
}

export async function login(email: string, password: string): Promise<SessionUser> {
  const res = await fetch('/api/v1/auth/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ email, password }),
  });
  if (!res.ok) {
    const p = await problemMessage(res);
    throw new LoginError(p.detail, res.status, p.code);
  }
  const answer = (await res.json()) as SessionAnswer;
  adopt(answer);
  return answer.user;
}

let inFlight: Promise<boolean> | null = null;

/** Spends the refresh cookie for a new access token; false when there is no live session. */
export function refreshSession(): Promise<boolean> {
  if (inFlight) return inFlight;
  const run = async () => {
    // No CSRF cookie, no session cookie either (they are set and cleared together): nothing to spend.
    if (!csrfToken()) {
      adopt(null);
      return false;
    }
    const res = await fetch('/api/v1/auth/session/refresh', {
      method: 'POST',
      headers: { 'x-csrf-token': csrfToken() },
      credentials: 'same-origin',
    });
    if (!res.ok) {
      adopt(null);
      return false;
    }
    adopt((await res.json()) as SessionAnswer);
    return true;
  };
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  const result: Promise<boolean> = locks ? (locks.request('spirit-session-refresh', run) as unknown as Promise<boolean>) : run();
  inFlight = result.finally(() => { inFlight = null; });
  return inFlight;
}

export async function logout(): Promise<void> {
  await fetch('/api/v1/auth/session', { method: 'DELETE', headers: { 'x-csrf-token': csrfToken() }, credentials: 'same-origin' }).catch(() => undefined);
  adopt(null);
  tabs?.postMessage('logout');
}

/** fetch with the access token; one refresh and retry on a 401 (an expired token). */
export async function authedFetch(input: Request): Promise<Response> {
  const retry = input.clone();
  const send = (req: Request) => {
    if (accessToken) req.headers.set('authorization', `Bearer ${accessToken}`);
    return fetch(req);
  };
  const res = await send(input);
  if (res.status !== 401 || !accessToken) return res;
  return (await refreshSession()) ? send(retry) : res;
}
