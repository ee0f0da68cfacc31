/**
 * Login, token refresh, logout (one session or all), password change and reset by email.
 *
 * Login is limited per account and per address (counts shared by every API instance in
 * PostgreSQL): past LOGIN_DELAY_AFTER_FAILURES failures each further failure is answered more
 * slowly, and past RATE_LIMIT_LOGIN_*_PER_MINUTE failures the login is refused with 429 and
 * Retry-After, before the password is even compared (an attempt is counted first, atomically,
 * and given back on success, so concurrent guesses cannot exceed the limit). A reset request
 * answers the same, in about the same time, whether or not the email has an account.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
import { z } from 'zod';
import jwt from 'jsonwebtoken';
import { RateLimiterRes, type RateLimiterPostgres } from 'rate-limiter-flexible';
import { config } from '../../platform/config';
import { AuditEntry, PasswordResetToken, ROLES, User } from '../../models';
import {
  assertCsrf, checkPassword, clearedSessionCookies, CSRF_COOKIE, CSRF_HEADER, endAllSessions, issueTokenPair, newCsrfToken, REFRESH_COOKIE, requestCookie,
  revokeRefreshFamily, rotateRefreshToken, secureCookies, sessionCookies, type TokenPair,
} from '../auth';
import { authFailures } from '../metrics';
import { Problem } from '../http/problem';
import { limiterFor, tooMany } from '../http/rate-limit';
import { route } from '../http/routes';
import { assertPasswordPolicy, hashPassword, verifyPassword } from '../../services/passwords';
import { uuid } from '../schemas';

const userSchema = z.object({
  id: uuid, email: z.string(), name: z.string(), role: z.enum(ROLES),
  branchId: uuid.nullable(), partnerId: uuid.nullable(), customerId: uuid.nullable(),
});
const tokensSchema = z.object({
  accessToken: z.string(), refreshToken: z.string(), tokenType: z.literal('Bearer'), expiresIn: z.int().describe('Seconds until the access token expires'), user: userSchema,
});

/** The browser session's answer: the access token (kept in memory) and the CSRF token; the refresh token only in its cookie. */
const browserSessionSchema = z.object({
  accessToken: z.string(), tokenType: z.literal('Bearer'), expiresIn: z.int().describe('Seconds until the access token expires'), user: userSchema,
  csrfToken: z.string().describe(`The value of the ${CSRF_COOKIE} cookie: send it as ${CSRF_HEADER} on the session routes`),
});

const publicUser = (u: User) => ({ id: u.id, email: u.email, name: u.name, role: u.role, branchId: u.branchId, partnerId: u.partnerId, customerId: u.customerId });

const email = z.email({ error: 'must be an email address' }).max(254);
// Long enough for any passphrase; the policy (services/passwords.ts) says what a new one must be.
const password = z.string().min(1, 'is required').max(200);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (token: string) => crypto.createHash('sha256').update(token).digest('hex');

// ---------------------------------------------------------------------------------------------
// Failed logins, per account and per address

interface FailureLimits { account?: RateLimiterPostgres; address?: RateLimiterPostgres }

function failureLimiters(ctx: Koa.Context): FailureLimits {
  const { loginFailuresPerAccountPerMinute: perAccount, loginFailuresPerAddressPerMinute: perAddress } = config.rateLimits;
  return {
    account: perAccount > 0 ? limiterFor(ctx.knex, 'login_account', perAccount, 60) : undefined,
    address: perAddress > 0 ? limiterFor(ctx.knex, 'login_address', perAddress, 60) : undefined,
  };
}

/**
 * Takes one attempt from the account's and the address's allowances before the password is
 * compared (one atomic upsert each, so concurrent guesses cannot all slip past a check), and
 * answers 429 when either is spent. A success gives the attempts back (see `forgive`).
 */
async function takeAttempt(ctx: Koa.Context, limits: FailureLimits, account: string): Promise<number> {
  const take = (limiter: RateLimiterPostgres | undefined, key: string) => limiter?.consume(key).then(
    (res) => ({ res, refused: false }),
    (err) => {
      if (err instanceof RateLimiterRes) return { res: err, refused: true };
      throw err;
    },
  );
  const [byAccount, byAddress] = await Promise.all([take(limits.account, account), take(limits.address, ctx.ip)]);
  for (const [taken, limiter, what, name] of [
    [byAccount, limits.account, 'failed logins for this account', 'login_account'],
    [byAddress, limits.address, 'failed logins from this address', 'login_address'],
  ] as const) {
    if (taken?.refused && limiter) {
      authFailures.inc({ reason: 'locked' });
      throw tooMany(what, limiter.points, 60, taken.res, name);
    }
  }
  return byAccount?.res.consumedPoints ?? 0;
}

/** After a success: the account's failures are forgotten, the address gets its attempt back. */
async function forgive(ctx: Koa.Context, limits: FailureLimits, account: string): Promise<void> {
  await Promise.all([limits.account?.delete(account), limits.address?.reward(ctx.ip, 1)]);
}

/** The progressive delay: nothing for the first failures, then one more step per failure. */
async function slowDown(failures: number): Promise<void> {
  const { loginDelayAfterFailures: after, loginDelayStepMs: step } = config.rateLimits;
  if (failures > after && step > 0) await sleep(Math.min((failures - after) * step, 5000));
}

/** The login itself, for the token route and the browser session route alike: limits, security events, audit. */
async function passwordLogin(ctx: Koa.Context, body: { email: string; password: string }, via?: 'cookie'): Promise<{ user: User; tokens: TokenPair }> {
  const account = body.email.toLowerCase();
  const limits = failureLimiters(ctx);
  const failures = await takeAttempt(ctx, limits, account);
  const user = await checkPassword(body.email, body.password);
  if (!user) {
    authFailures.inc({ reason: 'bad_credentials' });
    ctx.security.record({ kind: 'login_failed', ip: ctx.ip, account, path: ctx.path });
    ctx.state.securityEventRecorded = true;
    await AuditEntry.query(ctx.knex).insert({ action: 'auth.login_failed', entityType: 'user', entityId: null, data: { email: account, failures }, requestId: ctx.state.requestId, ip: ctx.ip });
    await slowDown(failures);
    throw new Problem(401, 'invalid_credentials', 'The email or password is wrong.');
  }
  await forgive(ctx, limits, account);
  const tokens = await issueTokenPair(ctx.knex, user);
  await User.query(ctx.knex).patch({ lastLoginAt: new Date() }).findById(user.id);
  await AuditEntry.query(ctx.knex).insert({ actorUserId: user.id, action: 'auth.login', entityType: 'user', entityId: user.id, ...(via ? { data: { via } } : {}), requestId: ctx.state.requestId, ip: ctx.ip });
  return { user, tokens };
}

/** A refresh refused because the token was spent before: recorded as a security event (the family is already ended). */
function recordReuse(ctx: Koa.Context, refreshToken: string) {
  return (err: unknown): never => {
    if (err instanceof Problem && err.code === 'refresh_token_reused') {
      const sub = jwt.decode(refreshToken)?.sub;
      ctx.security.record({ kind: 'refresh_reused', ip: ctx.ip, account: typeof sub === 'string' ? `user:${sub}` : null, path: ctx.path });
      ctx.state.securityEventRecorded = true;
    }
    throw err;
  };
}

/** The answer of the browser session routes: cookies set, no refresh token in the body, never cached. */
function browserSession(ctx: Koa.Context, user: User, tokens: TokenPair, csrfToken: string) {
  for (const c of sessionCookies(tokens.refreshToken, csrfToken, secureCookies(ctx))) ctx.append('Set-Cookie', c);
  const { refreshToken: _inTheCookie, ...rest } = tokens;
  return { headers: { 'Cache-Control': 'no-store' }, body: { ...rest, user: publicUser(user), csrfToken } };
}

// ---------------------------------------------------------------------------------------------

const perAddress = (name: string, what: string, points: () => number, durationSeconds: number) => ({
  name, what, points, durationSeconds, key: (ctx: Koa.Context) => ctx.ip,
});

export const authRoutes = [
  route({
    method: 'POST', path: '/api/v1/auth/login', operationId: 'login', tag: 'Auth', auth: 'public',
    summary: 'Exchange email and password for an access token and a refresh token',
    description: 'Failed logins are limited per account and per address (RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE, RATE_LIMIT_LOGIN_ADDRESS_PER_MINUTE): '
      + 'after a few, each failure is answered more slowly; past the limit the login is refused with 429 and Retry-After.',
    body: z.object({ email, password }),
    responses: { 200: { description: 'Logged in', schema: tokensSchema }, 401: { description: 'Wrong email or password' }, 429: { description: 'Too many failed logins for this account or address; see Retry-After' } },
    handler: async (ctx, { body }) => {
      const { user, tokens } = await passwordLogin(ctx, body);
      return { body: { ...tokens, user: publicUser(user) } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/refresh', operationId: 'refreshToken', tag: 'Auth', auth: 'public',
    summary: 'Spend a refresh token for a new token pair (rotation; a reused token ends the session family)',
    body: z.object({ refreshToken: z.string().min(1, 'is required').max(4096) }),
    rateLimit: [perAddress('refresh_address', 'token refreshes from this address', () => config.rateLimits.refreshPerAddressPerMinute, 60)],
    responses: { 200: { description: 'New tokens', schema: tokensSchema }, 401: { description: 'Expired, revoked, reused or forged token' }, 429: { description: 'Too many refreshes from this address' } },
    handler: async (ctx, { body }) => {
      const { user, tokens } = await rotateRefreshToken(ctx.knex, body.refreshToken).catch(recordReuse(ctx, body.refreshToken));
      return { body: { ...tokens, user: publicUser(user) } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/logout', operationId: 'logout', tag: 'Auth', auth: 'public',
    summary: 'End this session: revokes the refresh token\'s family (this login and all its rotations)',
    description: 'The access token of the session stays valid until it expires (JWT_ACCESS_TTL_SECONDS); POST /api/v1/auth/logout-all ends those too.',
    body: z.object({ refreshToken: z.string().min(1, 'is required').max(4096) }),
    responses: { 204: { description: 'Logged out (also when the session was already ended)' }, 401: { description: 'Not a refresh token of ours' } },
    handler: async (ctx, { body }) => {
      const revoked = await revokeRefreshFamily(ctx.knex, body.refreshToken);
      if (revoked) {
        await AuditEntry.query(ctx.knex).insert({ actorUserId: revoked.userId, action: 'auth.logout', entityType: 'user', entityId: revoked.userId, data: { familyId: revoked.familyId }, requestId: ctx.state.requestId, ip: ctx.ip });
      }
      return { status: 204 };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/logout-all', operationId: 'logoutAll', tag: 'Auth', auth: ROLES,
    summary: 'End every session of the calling user, on every device (this one included)',
    responses: { 204: { description: 'Every refresh token revoked; every access token refused from its next request' } },
    handler: async (ctx, { principal }) => {
      await ctx.knex.transaction(async (trx) => {
        const epoch = await endAllSessions(trx, principal!.userId);
        await AuditEntry.query(trx).insert({ actorUserId: principal!.userId, action: 'auth.logout_all', entityType: 'user', entityId: principal!.userId, data: { sessionEpoch: epoch }, requestId: ctx.state.requestId, ip: ctx.ip });
      });
      ctx.sessions.forget(principal!.userId);
      return { status: 204 };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/password', operationId: 'changePassword', tag: 'Auth', auth: ROLES,
    summary: 'Change your password: ends every other session and answers a new token pair for this one',
    body: z.object({ currentPassword: password, newPassword: password }).strict(),
    responses: {
      200: { description: 'Changed; use the new tokens', schema: tokensSchema },
      403: { description: 'The current password is wrong' },
      422: { description: 'The new password breaks a rule of the password policy (the problem names it in "rule")' },
      429: { description: 'Too many wrong current passwords for this account' },
    },
    handler: async (ctx, { body, principal }) => {
      const user = await User.query(ctx.knex).findById(principal!.userId);
      if (!user) throw new Problem(401, 'account_inactive', 'The account behind this token no longer exists.');
      const limits = failureLimiters(ctx);
      const account = user.email.toLowerCase();
      const failures = await takeAttempt(ctx, limits, account);
      if (!(await verifyPassword(body.currentPassword, user.passwordHash))) {
        await slowDown(failures);
        throw new Problem(403, 'invalid_credentials', 'The current password is wrong.', { param: 'currentPassword' });
      }
      await forgive(ctx, limits, account);
      assertPasswordPolicy(body.newPassword, user.email, 'newPassword');
      const passwordHash = await hashPassword(body.newPassword);
      const tokens = await ctx.knex.transaction(async (trx) => {
        await User.query(trx).patch({ passwordHash, passwordChangedAt: new Date() }).findById(user.id);
        const sessionEpoch = await endAllSessions(trx, user.id);
        await AuditEntry.query(trx).insert({ actorUserId: user.id, action: 'auth.password_changed', entityType: 'user', entityId: user.id, data: { sessionEpoch }, requestId: ctx.state.requestId, ip: ctx.ip });
        return issueTokenPair(trx, Object.assign(user, { sessionEpoch }));
      });
      ctx.sessions.forget(user.id);
      return { body: { ...tokens, user: publicUser(user) } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/password-reset', operationId: 'requestPasswordReset', tag: 'Auth', auth: 'public',
    summary: 'Email a single-use password reset link (answers the same whether or not the address has an account)',
    description: 'The link (PASSWORD_RESET_URL?token=...) works once, for PASSWORD_RESET_TTL_MINUTES. The email is the transactional template '
      + '"password_reset", queued in the message outbox.',
    body: z.object({ email }).strict(),
    rateLimit: [
      perAddress('reset_address', 'password reset requests from this address', () => config.rateLimits.passwordResetsPerAddressPerHour, 3600),
      { name: 'reset_email', what: 'password reset requests for this email', points: () => config.rateLimits.passwordResetsPerAddressPerHour, durationSeconds: 3600, key: (_ctx, { body }) => body.email.toLowerCase() },
    ],
    responses: {
      202: { description: 'Accepted: if an account uses this address, a link is on its way', schema: z.object({ status: z.literal('accepted'), message: z.string() }) },
      429: { description: 'Too many requests from this address or for this email' } },
    handler: async (ctx, { body }) => {
      // Answered no sooner than this, so the work done for a real account does not show in the timing.
      const answerAt = Date.now() + 300;
      const user = await User.findByEmail(body.email);
      if (user?.active) {
        const token = crypto.randomBytes(32).toString('base64url');
        const expiresAt = new Date(Date.now() + config.passwords.resetTtlMinutes * 60_000);
        const customer = user.customerId ? await ctx.knex('customers').where({ id: user.customerId }).first('language') : undefined;
        const language = customer?.language ?? ((ctx.acceptsLanguages('en', 'es') || 'en') as string);
        const url = new URL(config.passwords.resetUrl);
        url.searchParams.set('token', token);
        await ctx.knex.transaction(async (trx) => {
          const reset = await PasswordResetToken.query(trx).insert({ userId: user.id, tokenHash: sha256(token), expiresAt, requestedIp: ctx.ip });
          // The outbox row is the hand-over to email delivery (as the booking emails): the template is filled from `data`.
          await trx('outbox_messages').insert({
            channel: 'email', recipient: user.email, template: 'password_reset', language: language === 'es' ? 'es' : 'en',
            data: JSON.stringify({ name: user.name, reset_url: url.toString(), expires_minutes: String(config.passwords.resetTtlMinutes) }),
            dedupe_key: `password-reset/${reset.id}`,
          });
          await AuditEntry.query(trx).insert({ actorUserId: null, action: 'auth.password_reset_requested', entityType: 'user', entityId: user.id, data: { resetId: reset.id }, requestId: ctx.state.requestId, ip: ctx.ip });
        });
      }
      await sleep(answerAt - Date.now());
      return { status: 202, body: { status: 'accepted', message: 'If an account uses this address, we have emailed it a link to choose a new password.' } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/password-reset/confirm', operationId: 'confirmPasswordReset', tag: 'Auth', auth: 'public',
    summary: 'Set a new password with the token from the reset email; ends every session of the account',
    body: z.object({ token: z.string().min(20, 'is not a reset token').max(200), password }).strict(),
    rateLimit: [perAddress('reset_confirm_address', 'password reset attempts from this address', () => config.rateLimits.passwordResetsPerAddressPerHour * 3, 3600)],
    responses: {
      200: { description: 'The password is changed; log in with it', schema: z.object({ status: z.literal('password_changed'), message: z.string() }) },
      400: { description: 'The token is unknown, used or expired' },
      422: { description: 'The new password breaks a rule of the password policy (the problem names it in "rule")' },
    },
    handler: async (ctx, { body }) => {
      const invalid = () => new Problem(400, 'reset_token_invalid', 'This password reset link is unknown, already used or expired. Ask for a new one.', { param: 'token' });
      const tokenHash = sha256(body.token);
      const found = await PasswordResetToken.query(ctx.knex).findOne({ token_hash: tokenHash });
      if (!found || found.usedAt || found.expiresAt.getTime() <= Date.now()) throw invalid();
      const user = await User.query(ctx.knex).findById(found.userId);
      if (!user?.active) throw invalid();
      assertPasswordPolicy(body.password, user.email, 'password'); // refused: the link still works for a better password
      const passwordHash = await hashPassword(body.password);
      await ctx.knex.transaction(async (trx) => {
        // Single use, guarded by the row itself: of two concurrent confirmations one wins.
        const spent = await PasswordResetToken.query(trx).patch({ usedAt: new Date() })
          .where({ id: found.id }).whereNull('used_at').where('expires_at', '>', new Date());
        if (!spent) throw invalid();
        await PasswordResetToken.query(trx).patch({ usedAt: new Date() }).where({ user_id: user.id }).whereNull('used_at');
        await User.query(trx).patch({ passwordHash, passwordChangedAt: new Date() }).findById(user.id);
        const sessionEpoch = await endAllSessions(trx, user.id);
        await AuditEntry.query(trx).insert({ actorUserId: user.id, action: 'auth.password_reset', entityType: 'user', entityId: user.id, data: { resetId: found.id, sessionEpoch }, requestId: ctx.state.requestId, ip: ctx.ip });
      });
      ctx.sessions.forget(user.id);
      await failureLimiters(ctx).account?.delete(user.email.toLowerCase());
      return { body: { status: 'password_changed', message: 'Your password is changed and every session was ended. Log in with the new password.' } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/me', operationId: 'me', tag: 'Auth', auth: ROLES,
    summary: 'The calling user',
    responses: { 200: { description: 'The user behind the token', schema: userSchema } },
    handler: async (ctx, { principal }) => {
      const user = await User.query(ctx.knex).findById(principal!.userId);
      if (!user || !user.active) throw new Problem(401, 'invalid_token', 'The account behind this token is no longer active.');
      return { body: publicUser(user) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/session', operationId: 'createBrowserSession', tag: 'Auth', auth: 'public',
    summary: 'Log in for a browser: the access token in the answer, the refresh token in an httpOnly cookie',
    description: `The same checks, limits and security events as POST /api/v1/auth/login. Sets the cookie ${REFRESH_COOKIE} (HttpOnly, SameSite=Strict, `
      + `Path=/api/v1/auth/session, Secure on https and in production; lives as long as the refresh token) and ${CSRF_COOKIE} (readable, SameSite=Strict, Path=/), `
      + `whose value the console sends as ${CSRF_HEADER} on POST /api/v1/auth/session/refresh and DELETE /api/v1/auth/session. No refresh token in the body.`,
    body: z.object({ email, password }),
    responses: {
      200: { description: 'Logged in; cookies set', schema: browserSessionSchema },
      401: { description: 'Wrong email or password' },
      429: { description: 'Too many failed logins for this account or address; see Retry-After' },
    },
    handler: async (ctx, { body }) => {
      const { user, tokens } = await passwordLogin(ctx, body, 'cookie');
      return browserSession(ctx, user, tokens, newCsrfToken());
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/session/refresh', operationId: 'refreshBrowserSession', tag: 'Auth', auth: 'public',
    summary: `Spend the ${REFRESH_COOKIE} cookie for a new access token (rotation: new cookies; a reused cookie ends the session family)`,
    description: `Needs the ${REFRESH_COOKIE} cookie and the ${CSRF_HEADER} header equal to the ${CSRF_COOKIE} cookie. A refresh token presented a second time `
      + 'ends every session of its login, as on POST /api/v1/auth/refresh. A refused cookie is cleared.',
    rateLimit: [perAddress('refresh_address', 'token refreshes from this address', () => config.rateLimits.refreshPerAddressPerMinute, 60)],
    responses: {
      200: { description: 'A new access token; the cookies rotated', schema: browserSessionSchema },
      401: { description: 'No session cookie, or an expired, revoked, reused or forged one' },
      403: { description: `The ${CSRF_HEADER} header is missing or differs from the ${CSRF_COOKIE} cookie (csrf_failed)` },
      429: { description: 'Too many refreshes from this address' },
    },
    handler: async (ctx) => {
      const refreshToken = requestCookie(ctx, REFRESH_COOKIE);
      if (!refreshToken) throw new Problem(401, 'session_cookie_missing', `No browser session here (no ${REFRESH_COOKIE} cookie): log in with POST /api/v1/auth/session.`);
      const csrf = assertCsrf(ctx);
      const { user, tokens } = await rotateRefreshToken(ctx.knex, refreshToken).catch((err) => {
        if (err instanceof Problem && err.status === 401) for (const c of clearedSessionCookies(secureCookies(ctx))) ctx.append('Set-Cookie', c);
        return recordReuse(ctx, refreshToken)(err);
      });
      return browserSession(ctx, user, tokens, csrf);
    },
  }),
  route({
    method: 'DELETE', path: '/api/v1/auth/session', operationId: 'endBrowserSession', tag: 'Auth', auth: 'public',
    summary: 'Log a browser out: revokes the session cookie\'s family and clears the cookies',
    description: `Needs the ${CSRF_HEADER} header equal to the ${CSRF_COOKIE} cookie when there is a session cookie. The access token stays valid until it expires.`,
    responses: {
      204: { description: 'Logged out, cookies cleared (also when there was no session)' },
      403: { description: `The ${CSRF_HEADER} header is missing or differs from the ${CSRF_COOKIE} cookie (csrf_failed)` },
    },
    handler: async (ctx) => {
      const refreshToken = requestCookie(ctx, REFRESH_COOKIE);
      if (refreshToken) {
        assertCsrf(ctx);
        // A forged or foreign token ends nothing; the cookies go all the same.
        const revoked = await revokeRefreshFamily(ctx.knex, refreshToken).catch(() => undefined);
        if (revoked) {
          await AuditEntry.query(ctx.knex).insert({ actorUserId: revoked.userId, action: 'auth.logout', entityType: 'user', entityId: revoked.userId, data: { familyId: revoked.familyId, via: 'cookie' }, requestId: ctx.state.requestId, ip: ctx.ip });
        }
      }
      for (const c of clearedSessionCookies(secureCookies(ctx))) ctx.append('Set-Cookie', c);
      return { status: 204 };
    },
  }),
];
