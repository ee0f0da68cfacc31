/** Login and token refresh. */
import { z } from 'zod';
import { AuditEntry, ROLES, User } from '../../models';
import { checkPassword, issueTokenPair, rotateRefreshToken } from '../auth';
import { authFailures } from '../metrics';
import { Problem } from '../http/problem';
import { route } from '../http/routes';
import { uuid } from '../schemas';

const userSchema = z.object({
  id: uuid, email: z.string(), name: z.string(), role: z.enum(ROLES),
  branchId: uuid.nullable(), partnerId: uuid.nullable(), customerId: uuid.nullable(),
});
const tokensSchema = z.object({
  accessToken: z.string(), refreshToken: z.string(), tokenType: z.literal('Bearer'), expiresIn: z.int().describe('Seconds until the access token expires'), user: userSchema,
});

const publicUser = (u: User) => ({ id: u.id, email: u.email, name: u.name, role: u.role, branchId: u.branchId, partnerId: u.partnerId, customerId: u.customerId });

export const authRoutes = [
  route({
    method: 'POST', path: '/api/v1/auth/login', operationId: 'login', tag: 'Auth', auth: 'public',
    summary: 'Exchange email and password for an access token and a refresh token',
    body: z.object({ email: z.email({ error: 'must be an email address' }).max(254), password: z.string().min(1, 'is required').max(200) }),
    responses: { 200: { description: 'Logged in', schema: tokensSchema }, 401: { description: 'Wrong email or password' } },
    handler: async (ctx, { body }) => {
      const user = await checkPassword(body.email, body.password);
      if (!user) {
        authFailures.inc({ reason: 'bad_credentials' });
        await AuditEntry.query(ctx.knex).insert({ action: 'auth.login_failed', entityType: 'user', entityId: null, data: { email: body.email.toLowerCase() }, requestId: ctx.state.requestId, ip: ctx.ip });
        throw new Problem(401, 'invalid_credentials', 'The email or password is wrong.');
      }
      const tokens = await issueTokenPair(ctx.knex, user);
      await User.query(ctx.knex).patch({ lastLoginAt: new Date() }).findById(user.id);
      await AuditEntry.query(ctx.knex).insert({ actorUserId: user.id, action: 'auth.login', entityType: 'user', entityId: user.id, requestId: ctx.state.requestId, ip: ctx.ip });
      return { body: { ...tokens, user: publicUser(user) } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/auth/refresh', operationId: 'refreshToken', tag: 'Auth', auth: 'public',
    summary: 'Spend a refresh token for a new token pair (rotation; a reused token ends the session family)',
    body: z.object({ refreshToken: z.string().min(1, 'is required').max(4096) }),
    responses: { 200: { description: 'New tokens', schema: tokensSchema }, 401: { description: 'Expired, revoked, reused or forged token' } },
    handler: async (ctx, { body }) => {
      const { user, tokens } = await rotateRefreshToken(ctx.knex, body.refreshToken);
      return { body: { ...tokens, user: publicUser(user) } };
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
];
