/**
 * Who is calling: JWT access tokens (HS256, short-lived) and rotating refresh tokens whose ids
 * are kept in refresh_tokens, so a spent refresh token presented again revokes its whole family.
 *
 * Sessions that can end, without a database query per request: an access token names its user
 * and the user's session epoch; each request is checked against an in-process copy of the user's
 * state (active, role, scope, epoch) kept by the SessionDirectory. A trigger on users NOTIFYs
 * `user_sessions` on every change of that state, and every API instance LISTENs, so a
 * deactivation, a demotion or "end all sessions" is seen by all of them at once; the copy's TTL
 * (SESSION_CACHE_TTL_MS) is the backstop should a notification be lost. The role and scope a
 * request acts with are the user's current ones, not the ones in the token.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
import jwt from 'jsonwebtoken';
import type { Knex } from 'knex';
import pg from 'pg';
import { config } from '../platform/config';
import type { Logger } from '../platform/logger';
import { jwtKeys } from '../platform/secrets';
import { RefreshToken, Role, User } from '../models';
import { authFailures } from './metrics';
import { Problem } from './http/problem';
import { verifyPassword } from '../services/passwords';

export interface Principal {
  userId: string;
  role: Role;
  branchId: string | null;
  partnerId: string | null;
  customerId: string | null;
}

declare module 'koa' {
  interface DefaultState {
    principal?: Principal;
  }
}

interface AccessClaims {
  typ: 'access';
  role: Role;
  br?: string | null;
  pt?: string | null;
  cu?: string | null;
  /** The user's session epoch when issued; a token of an older epoch is refused. Absent in tokens issued before epochs existed (= 0). */
  ep?: number;
}

/** What an access token stands for, as the users row says now. */
export interface SessionState {
  active: boolean;
  role: Role;
  branchId: string | null;
  partnerId: string | null;
  customerId: string | null;
  epoch: number;
}

export interface SessionDirectory {
  /** The cached state when fresh (no promise on the hot path), else undefined. */
  cached(userId: string): SessionState | null | undefined;
  /** Reads the user (once for concurrent callers) and caches the answer; null when there is no such user. */
  load(userId: string): Promise<SessionState | null>;
  /** Drops a user's cached state (this instance; others hear the NOTIFY). */
  forget(userId: string): void;
  /** True while the LISTEN connection is up. */
  readonly listening: boolean;
  close(): Promise<void>;
}

export const SESSION_CHANNEL = 'user_sessions';
const MAX_CACHED_USERS = 50_000;

/**
 * The per-instance cache of users' session state, invalidated through LISTEN user_sessions on a
 * connection of its own (not one of the pool's). While that connection is down, cached states
 * live at most a second, and everything cached is dropped when it is back (notifications may
 * have been missed in between).
 */
export function createSessionDirectory(deps: { knex: Knex; logger?: Logger; ttlMs?: number; listen?: boolean }): SessionDirectory {
  const ttlMs = deps.ttlMs ?? config.sessionCacheTtlMs;
  const cache = new Map<string, { state: SessionState | null; at: number }>();
  const inflight = new Map<string, Promise<SessionState | null>>();
  // Bumped by every invalidation: a read that started before one is not cached (it may be stale).
  let generation = 0;
  let listening = false;
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const invalidate = (userId?: string) => {
    generation++;
    if (userId) cache.delete(userId);
    else cache.clear();
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const connection = (deps.knex.client.config as { connection: string | pg.ClientConfig }).connection;
    const c = new pg.Client(typeof connection === 'string' ? { connectionString: connection } : connection);
    client = c;
    const lost = (err?: Error) => {
      if (client !== c) return;
      client = undefined;
      listening = false;
      invalidate();
      c.end().catch(() => undefined);
      if (closed) return;
      deps.logger?.warn({ err: err?.message }, 'session notifications lost; reconnecting');
      retry = setTimeout(() => { connect().catch(() => undefined); }, 1000);
      retry.unref();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (msg) => {
      if (msg.channel === SESSION_CHANNEL) invalidate(msg.payload || undefined);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${SESSION_CHANNEL}`);
      if (client !== c) return;
      listening = true;
      invalidate(); // whatever changed while we were not listening
      // The listener must not keep a process alive on its own (tests, scripts); the API closes it on stop.
      (c as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
    } catch (err) {
      lost(err as Error);
    }
  }
  if (deps.listen !== false) connect().catch(() => undefined);

  async function read(userId: string): Promise<SessionState | null> {
    const row = await deps.knex('users').where({ id: userId })
      .first('active', 'role', 'branch_id', 'partner_id', 'customer_id', 'session_epoch');
    return row
      ? { active: row.active, role: row.role, branchId: row.branch_id, partnerId: row.partner_id, customerId: row.customer_id, epoch: row.session_epoch }
      : null;
  }

  return {
    get listening() { return listening; },
    cached(userId) {
      const hit = cache.get(userId);
      if (!hit) return undefined;
      if (Date.now() - hit.at > (listening ? ttlMs : Math.min(ttlMs, 1000))) {
        cache.delete(userId);
        return undefined;
      }
      return hit.state;
    },
    load(userId) {
      const pending = inflight.get(userId);
      if (pending) return pending;
      const startedAt = generation;
      const p = read(userId).then((state) => {
        if (generation === startedAt) {
          if (cache.size >= MAX_CACHED_USERS) cache.delete(cache.keys().next().value!);
          cache.set(userId, { state, at: Date.now() });
        }
        return state;
      }).finally(() => inflight.delete(userId));
      inflight.set(userId, p);
      return p;
    },
    forget: (userId) => invalidate(userId),
    async close() {
      closed = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      listening = false;
      await c?.end().catch(() => undefined);
    },
  };
}

const ISSUER = 'spirit-tours';

/**
 * Keys as KeyObjects, made once: given a string, jsonwebtoken builds a new key object on every
 * call (measured 290 µs per verify; 5.6 µs with the KeyObject), on every authenticated request.
 * The current key signs, naming itself in the `kid` header; a token is verified with the key its
 * `kid` names among the current and previous ones (JWT_PREVIOUS_SECRETS), so a rotation does not
 * log everyone out. A token without `kid` (issued before key ids) is tried with the current key.
 */
const keyObjects = new Map<string, crypto.KeyObject>();
function keyObject(secret: string): crypto.KeyObject {
  let key = keyObjects.get(secret);
  if (!key) keyObjects.set(secret, (key = crypto.createSecretKey(Buffer.from(secret, 'utf8'))));
  return key;
}
function jwtKey(): crypto.KeyObject {
  return keyObject(jwtKeys().current.secret);
}
function signOptions(): { keyid: string } {
  return { keyid: jwtKeys().current.id };
}
function verifyingKey(token: string): crypto.KeyObject {
  return keyForKid(jwt.decode(token, { complete: true })?.header?.kid);
}
function keyForKid(kid: string | undefined): crypto.KeyObject {
  const ring = jwtKeys();
  if (!kid) return keyObject(ring.current.secret);
  const key = ring.accepted.find((k) => k.id === kid);
  return keyObject(key?.secret ?? ring.current.secret); // an unknown kid fails on the signature
}

export function issueAccessToken(user: Pick<User, 'id' | 'role' | 'branchId' | 'partnerId' | 'customerId' | 'sessionEpoch'>): string {
  const claims: AccessClaims = { typ: 'access', role: user.role, br: user.branchId, pt: user.partnerId, cu: user.customerId, ep: user.sessionEpoch ?? 0 };
  return jwt.sign(claims, jwtKey(), {
    algorithm: 'HS256', subject: user.id, issuer: ISSUER, expiresIn: config.jwt.accessTtlSeconds, ...signOptions(),
  });
}

function verify<T>(token: string, expectedType: string): T & jwt.JwtPayload {
  let payload: jwt.JwtPayload;
  try {
    payload = jwt.verify(token, verifyingKey(token), { algorithms: ['HS256'], issuer: ISSUER }) as jwt.JwtPayload;
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) {
      authFailures.inc({ reason: 'expired' });
      throw new Problem(401, 'token_expired', `The ${expectedType} token expired at ${err.expiredAt.toISOString()}.`, {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="expired"' },
      });
    }
    authFailures.inc({ reason: 'invalid' });
    throw new Problem(401, 'invalid_token', `The ${expectedType} token is not valid (bad signature or malformed).`, {
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    });
  }
  if (payload.typ !== expectedType || typeof payload.sub !== 'string') {
    authFailures.inc({ reason: 'wrong_type' });
    throw new Problem(401, 'invalid_token', `This is not an ${expectedType} token.`);
  }
  return payload as T & jwt.JwtPayload;
}

/**
 * Access tokens already verified, by their exact text. A signed-in client sends the same token on
 * every request of its 15 minutes, and verifying it (base64, two JSON parses, an HMAC: ~10 % of
 * the API's CPU for a signed-in catalog read served from the micro-cache) gives the same claims
 * each time. An entry is used only until the token's own expiry and only under the key that
 * verified it (a rotated JWT_SECRET misses); once expired the token is verified again, so it is
 * refused exactly as before. Bounded: the oldest entry goes first. Checks of the user behind the
 * token (deactivated, demoted) come after this and run on every request.
 */
const VERIFIED_MAX = 10_000;
const verifiedAccess = new Map<string, { kid: string | undefined; key: crypto.KeyObject; claims: AccessClaims & jwt.JwtPayload }>();

function verifyAccessToken(token: string): AccessClaims & jwt.JwtPayload {
  const hit = verifiedAccess.get(token);
  // Still good only while the key that verified it is still accepted for its kid (a dropped previous key misses).
  if (hit && keyForKid(hit.kid) === hit.key && typeof hit.claims.exp === 'number' && Date.now() < hit.claims.exp * 1000) return hit.claims;
  if (hit) verifiedAccess.delete(token);
  const kid = jwt.decode(token, { complete: true })?.header?.kid;
  const key = keyForKid(kid);
  const claims = verify<AccessClaims>(token, 'access');
  if (verifiedAccess.size >= VERIFIED_MAX) verifiedAccess.delete(verifiedAccess.keys().next().value!);
  verifiedAccess.set(token, { kid, key, claims });
  return claims;
}

/**
 * Reads the bearer token when there is one; routes decide whether one is required. The token
 * must belong to an active user and the user's current session epoch; the principal carries
 * the user's current role and scope (from the SessionDirectory, a database read only on a miss).
 */
export function authenticate(sessions: SessionDirectory): Koa.Middleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    // /metrics has its own bearer token (METRICS_TOKEN), checked by its route.
    if (header && ctx.path !== '/metrics') {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw new Problem(401, 'invalid_authorization_header', 'Send the access token as "Authorization: Bearer <token>".');
      const claims = verifyAccessToken(match[1]);
      const userId = claims.sub!;
      let state = sessions.cached(userId);
      if (state === undefined) state = await sessions.load(userId);
      if (!state || !state.active) {
        authFailures.inc({ reason: 'inactive' });
        throw new Problem(401, 'account_inactive', 'The account behind this token is deactivated.', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      }
      if ((claims.ep ?? 0) < state.epoch) {
        authFailures.inc({ reason: 'session_ended' });
        throw new Problem(401, 'session_ended', 'This session was ended (logout from all sessions, a password change or reset). Log in again.', {
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="session ended"' },
        });
      }
      ctx.state.principal = { userId, role: state.role, branchId: state.branchId, partnerId: state.partnerId, customerId: state.customerId };
    }
    return next();
  };
}

export function requirePrincipal(ctx: Koa.Context, roles?: readonly Role[]): Principal {
  const principal = ctx.state.principal;
  if (!principal) {
    throw new Problem(401, 'authentication_required', 'This route needs an access token: POST /api/v1/auth/login, then send "Authorization: Bearer <accessToken>".', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  if (roles && !roles.includes(principal.role)) {
    throw new Problem(403, 'forbidden', `The role "${principal.role}" may not do this; allowed: ${roles.join(', ')}.`);
  }
  return principal;
}

/** The user when the email and password match an active account (an unknown email costs the same hash). */
export async function checkPassword(email: string, password: string): Promise<User | undefined> {
  const user = await User.findByEmail(email);
  const ok = await verifyPassword(password, user?.passwordHash);
  return ok && user?.active ? user : undefined;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

export async function issueTokenPair(knex: Knex, user: User, familyId: string = crypto.randomUUID()): Promise<TokenPair> {
  const jti = crypto.randomUUID();
  const expiresAt = new Date(Date.now() + config.jwt.refreshTtlSeconds * 1000);
  await RefreshToken.query(knex).insert({ id: jti, userId: user.id, familyId, expiresAt });
  const refreshToken = jwt.sign({ typ: 'refresh', fam: familyId, ep: user.sessionEpoch ?? 0 }, jwtKey(), {
    algorithm: 'HS256', subject: user.id, issuer: ISSUER, jwtid: jti, expiresIn: config.jwt.refreshTtlSeconds, ...signOptions(),
  });
  return { accessToken: issueAccessToken(user), refreshToken, tokenType: 'Bearer', expiresIn: config.jwt.accessTtlSeconds };
}

/** Spends a refresh token and issues the next pair of its family. */
export async function rotateRefreshToken(knex: Knex, token: string): Promise<{ user: User; tokens: TokenPair }> {
  const claims = verify<{ fam: string; ep?: number }>(token, 'refresh');
  const outcome = await knex.transaction(async (trx) => {
    const row = await RefreshToken.query(trx).findById(claims.jti!).forUpdate();
    if (!row || row.revokedAt) return { refused: 'revoked' as const };
    if (row.usedAt) {
      // Reuse of a spent token means it leaked: end every session of this login (committed, then refused).
      await RefreshToken.query(trx).patch({ revokedAt: new Date() }).where('family_id', row.familyId).whereNull('revoked_at');
      return { refused: 'reused' as const };
    }
    const user = await User.query(trx).findById(row.userId);
    if (!user || !user.active) return { refused: 'inactive' as const };
    if ((claims.ep ?? 0) < user.sessionEpoch) return { refused: 'revoked' as const };
    await RefreshToken.query(trx).patch({ usedAt: new Date() }).findById(row.id);
    return { user, tokens: await issueTokenPair(trx, user, row.familyId) };
  });
  if ('refused' in outcome) {
    authFailures.inc({ reason: `refresh_${outcome.refused}` });
    if (outcome.refused === 'reused') {
      throw new Problem(401, 'refresh_token_reused', 'This refresh token was already used; for safety every session of this login is now ended. Log in again.');
    }
    throw new Problem(401, 'invalid_token', outcome.refused === 'revoked'
      ? 'This refresh token has been revoked. Log in again.'
      : 'The account behind this token is no longer active.');
  }
  return outcome;
}

/** Logout: revokes the refresh token's whole family (this login and its rotations). Answers the user id, or undefined for a token of no live family. */
export async function revokeRefreshFamily(knex: Knex, token: string): Promise<{ userId: string; familyId: string; revoked: number } | undefined> {
  const claims = verify<{ fam: string }>(token, 'refresh');
  const row = await RefreshToken.query(knex).findById(claims.jti!);
  if (!row || row.userId !== claims.sub) return undefined;
  const revoked = await RefreshToken.query(knex).patch({ revokedAt: new Date() }).where('family_id', row.familyId).whereNull('revoked_at');
  return { userId: row.userId, familyId: row.familyId, revoked };
}

/**
 * Ends every session of a user, in the caller's transaction: every refresh token revoked and the
 * session epoch raised, so every access token already issued is refused on its next request.
 * Answers the new epoch.
 */
export async function endAllSessions(trx: Knex, userId: string): Promise<number> {
  await RefreshToken.query(trx).patch({ revokedAt: new Date() }).where('user_id', userId).whereNull('revoked_at');
  const [row] = await trx('users').where({ id: userId }).increment('session_epoch', 1).returning('session_epoch');
  return row.session_epoch;
}

declare module 'koa' {
  interface DefaultContext {
    /** Users' session state, cached per instance (see createSessionDirectory). */
    sessions: SessionDirectory;
  }
}

// ---------------------------------------------------------------------------------------------
// Browser sessions: the refresh token in a cookie script cannot read, CSRF by double submit

export const REFRESH_COOKIE = 'st_refresh';
export const CSRF_COOKIE = 'st_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';
/** The refresh cookie goes only to the session routes (login, refresh, logout), never with other requests. */
export const SESSION_COOKIE_PATH = '/api/v1/auth/session';

/**
 * Set-Cookie values for a browser session. Written out rather than through ctx.cookies, which
 * refuses a Secure cookie on a plain-http request: behind a TLS-terminating proxy without
 * TRUST_PROXY the request looks like http, yet production cookies must still be Secure.
 */
export function sessionCookies(refreshToken: string, csrfToken: string, secure: boolean): string[] {
  const common = `SameSite=Strict; Max-Age=${config.jwt.refreshTtlSeconds}${secure ? '; Secure' : ''}`;
  return [
    `${REFRESH_COOKIE}=${refreshToken}; Path=${SESSION_COOKIE_PATH}; HttpOnly; ${common}`,
    // Readable by the console's script (that is the point): it echoes it in X-CSRF-Token.
    `${CSRF_COOKIE}=${csrfToken}; Path=/; ${common}`,
  ];
}

export function clearedSessionCookies(secure: boolean): string[] {
  const gone = `SameSite=Strict; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${secure ? '; Secure' : ''}`;
  return [`${REFRESH_COOKIE}=; Path=${SESSION_COOKIE_PATH}; HttpOnly; ${gone}`, `${CSRF_COOKIE}=; Path=/; ${gone}`];
}

export const newCsrfToken = () => crypto.randomBytes(24).toString('base64url');

/** A cookie's value from the request's Cookie header (undefined when absent or empty). */
export function requestCookie(ctx: Koa.Context, name: string): string | undefined {
  for (const part of ctx.get('cookie').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** Double submit: the X-CSRF-Token header must equal the st_csrf cookie, which another site can neither read nor set. */
export function assertCsrf(ctx: Koa.Context): string {
  const cookie = requestCookie(ctx, CSRF_COOKIE);
  const header = ctx.get(CSRF_HEADER);
  const [a, b] = [Buffer.from(cookie ?? ''), Buffer.from(header)];
  const ok = a.length > 0 && a.length === b.length && crypto.timingSafeEqual(a, b);
  if (!ok) {
    throw new Problem(403, 'csrf_failed', `This request needs the ${CSRF_HEADER} header equal to the ${CSRF_COOKIE} cookie (${!cookie ? 'no such cookie' : !header ? 'no header' : 'they differ'}).`, { param: CSRF_HEADER });
  }
  return cookie!;
}

/** Secure cookies on https (as Koa sees it, TRUST_PROXY included) and always in production. */
export const secureCookies = (ctx: Koa.Context) => ctx.secure || config.isProduction;
