/**
 * Staff and customer accounts, for admins: list, show, create, change role or scope,
 * deactivate and reactivate. Each change is one transaction with its audit entry. A change of
 * role, scope or active state is seen by every API instance on the user's next request (the
 * users trigger NOTIFYs user_sessions); deactivation also ends every session.
 */
import type Koa from 'koa';
import { z } from 'zod';
import { AuditEntry, ROLES, User } from '../../models';
import { endAllSessions } from '../auth';
import { decodeCursor, page } from '../http/cursor';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { assertPasswordPolicy, hashPassword } from '../../services/passwords';
import { cursor, idParams, limit, listOf, uuid } from '../schemas';

const ADMIN = ['admin'] as const;

const userItem = z.object({
  object: z.literal('user'), id: uuid, email: z.string(), name: z.string(), role: z.enum(ROLES),
  branchId: uuid.nullable(), partnerId: uuid.nullable(), customerId: uuid.nullable(), active: z.boolean(),
  lastLoginAt: z.string().nullable(), createdAt: z.string(), updatedAt: z.string(),
}).meta({ id: 'User' });

const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);
const toItem = (u: User) => ({
  object: 'user' as const, id: u.id, email: u.email, name: u.name, role: u.role, branchId: u.branchId, partnerId: u.partnerId,
  customerId: u.customerId, active: u.active, lastLoginAt: iso(u.lastLoginAt), createdAt: iso(u.createdAt)!, updatedAt: iso(u.updatedAt)!,
});

/** The database says which role needs which scope; its refusals become 409/422 problems here. */
function constraintProblem(err: unknown): Problem | undefined {
  // Objection wraps the driver's error (CheckViolationError, ...); the PostgreSQL code is on the original.
  const e = ((err as { nativeError?: unknown }).nativeError ?? err) as { code?: string; constraint?: string };
  if (e.code === '23505' && e.constraint === 'users_email_unique') return new Problem(409, 'email_taken', 'Another account already uses this email.', { param: 'email' });
  if (e.code === '23503') {
    const param = e.constraint?.includes('branch') ? 'branchId' : e.constraint?.includes('partner') ? 'partnerId' : 'customerId';
    return new Problem(422, 'scope_not_found', `No ${param.replace(/Id$/, '')} with that id.`, { param });
  }
  if (e.code === '23514') {
    const rule: Record<string, [string, string]> = {
      users_partner_scope: ['partnerId', 'The partner role needs partnerId, and only that role may have one.'],
      users_customer_scope: ['customerId', 'The customer role needs customerId, and only that role may have one.'],
      users_operator_branch: ['branchId', 'The operator role needs branchId.'],
      users_accountant_branch: ['branchId', 'The accountant role needs branchId.'],
    };
    const [param, message] = rule[e.constraint ?? ''] ?? ['role', 'This role and scope do not go together.'];
    return new Problem(422, 'role_scope_invalid', message, { param });
  }
  return undefined;
}

async function writing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw constraintProblem(err) ?? err;
  }
}

function audit(ctx: Koa.Context, actorUserId: string, action: string, userId: string, data: Record<string, unknown>) {
  return { actorUserId, action, entityType: 'user', entityId: userId, data, requestId: ctx.state.requestId, ip: ctx.ip };
}

const scopeFields = { branchId: uuid.nullable().optional(), partnerId: uuid.nullable().optional(), customerId: uuid.nullable().optional() };

export const userRoutes = [
  route({
    method: 'GET', path: '/api/v1/users', operationId: 'listUsers', tag: 'Users', auth: ADMIN,
    summary: 'Accounts, newest first, with filters',
    query: z.object({
      role: z.enum(ROLES).optional(),
      active: z.enum(['true', 'false']).optional().describe('Only active (true) or deactivated (false) accounts'),
      branchId: uuid.optional(),
      email: z.string().min(1).max(254).optional().describe('Accounts whose email starts with this (case-insensitive)'),
      limit,
      cursor,
    }),
    responses: { 200: { description: 'A page of accounts', schema: listOf(userItem) } },
    handler: async (ctx, { query }) => {
      const q = User.query(ctx.knex).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(query.limit + 1);
      if (query.role) q.where('role', query.role);
      if (query.active) q.where('active', query.active === 'true');
      if (query.branchId) q.where('branch_id', query.branchId);
      if (query.email) q.whereRaw(`lower(email) like ? escape '\\'`, [`${query.email.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`]);
      if (query.cursor) {
        const [at, id] = decodeCursor(query.cursor, 2);
        if (typeof at !== 'string' || !uuid.safeParse(id).success) throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API returned.', { param: 'cursor' });
        q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [at, id as string]);
      }
      const rows = await q;
      return { body: page(rows, query.limit, toItem, (u) => [new Date(u.createdAt).toISOString(), u.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/users/{id}', operationId: 'getUser', tag: 'Users', auth: ADMIN,
    summary: 'One account',
    params: idParams,
    responses: { 200: { description: 'The account', schema: userItem }, 404: { description: 'No such account' } },
    handler: async (ctx, { params }) => {
      const user = await User.query(ctx.knex).findById(params.id);
      if (!user) throw notFound('user', params.id);
      return { body: toItem(user) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/users', operationId: 'createUser', tag: 'Users', auth: ADMIN,
    summary: 'Create an account with a role (and the scope the role needs: branchId, partnerId or customerId)',
    idempotent: true,
    body: z.object({
      email: z.email({ error: 'must be an email address' }).max(254), name: z.string().trim().min(1, 'is required').max(120), role: z.enum(ROLES),
      password: z.string().min(1, 'is required').max(200), ...scopeFields,
    }).strict(),
    responses: {
      201: { description: 'Created', schema: userItem },
      409: { description: 'The email is taken' },
      422: { description: 'The password breaks the policy, or the role and scope do not go together' },
    },
    handler: async (ctx, { body, principal }) => {
      assertPasswordPolicy(body.password, body.email);
      const passwordHash = await hashPassword(body.password);
      const user = await writing(() => ctx.knex.transaction(async (trx) => {
        const created = await User.query(trx).insertAndFetch({
          email: body.email, name: body.name, role: body.role, passwordHash, passwordChangedAt: new Date(),
          branchId: body.branchId ?? null, partnerId: body.partnerId ?? null, customerId: body.customerId ?? null,
        });
        await AuditEntry.query(trx).insert(audit(ctx, principal!.userId, 'user.created', created.id, {
          email: created.email, role: created.role, branchId: created.branchId, partnerId: created.partnerId, customerId: created.customerId,
        }));
        return created;
      }));
      return { status: 201, body: toItem(user), headers: { Location: `/api/v1/users/${user.id}` } };
    },
  }),
  route({
    method: 'PATCH', path: '/api/v1/users/{id}', operationId: 'updateUser', tag: 'Users', auth: ADMIN,
    summary: 'Change an account\'s name, role or scope (effective on its next request, on every instance)',
    description: 'A scope the new role cannot have (partnerId for a non-partner, customerId for a non-customer) is cleared unless given.',
    params: idParams,
    body: z.object({ name: z.string().trim().min(1).max(120).optional(), role: z.enum(ROLES).optional(), ...scopeFields }).strict()
      .refine((b) => Object.keys(b).length > 0, 'give at least one field to change'),
    responses: {
      200: { description: 'Changed', schema: userItem },
      404: { description: 'No such account' },
      409: { description: 'Admins cannot change their own role' },
      422: { description: 'The role and scope do not go together' },
    },
    handler: async (ctx, { params, body, principal }) => {
      const user = await writing(() => ctx.knex.transaction(async (trx) => {
        const before = await User.query(trx).findById(params.id).forUpdate();
        if (!before) throw notFound('user', params.id);
        const role = body.role ?? before.role;
        if (before.id === principal!.userId && role !== before.role) {
          throw new Problem(409, 'cannot_change_own_role', 'You cannot change your own role; another admin can.', { param: 'role' });
        }
        const patch: Partial<User> = { updatedAt: new Date() };
        if (body.name !== undefined) patch.name = body.name;
        if (body.role !== undefined) patch.role = body.role;
        if (body.branchId !== undefined) patch.branchId = body.branchId;
        patch.partnerId = body.partnerId !== undefined ? body.partnerId : role === 'partner' ? before.partnerId : null;
        patch.customerId = body.customerId !== undefined ? body.customerId : role === 'customer' ? before.customerId : null;
        const after = await User.query(trx).patchAndFetchById(before.id, patch);
        const changed = Object.fromEntries((['name', 'role', 'branchId', 'partnerId', 'customerId'] as const)
          .filter((k) => before[k] !== after[k]).map((k) => [k, { from: before[k], to: after[k] }]));
        await AuditEntry.query(trx).insert(audit(ctx, principal!.userId, 'user.updated', before.id, { changed }));
        return after;
      }));
      ctx.sessions.forget(user.id);
      return { body: toItem(user) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/users/{id}/deactivate', operationId: 'deactivateUser', tag: 'Users', auth: ADMIN,
    summary: 'Deactivate an account: it cannot log in, and every session ends at once',
    params: idParams,
    body: z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict().optional(),
    responses: { 200: { description: 'Deactivated (or already)', schema: userItem }, 404: { description: 'No such account' }, 409: { description: 'Admins cannot deactivate themselves' } },
    handler: async (ctx, { params, body, principal }) => {
      if (params.id === principal!.userId) throw new Problem(409, 'cannot_deactivate_self', 'You cannot deactivate your own account; another admin can.');
      const user = await ctx.knex.transaction(async (trx) => {
        const before = await User.query(trx).findById(params.id).forUpdate();
        if (!before) throw notFound('user', params.id);
        if (!before.active) return before;
        await User.query(trx).patch({ active: false, updatedAt: new Date() }).findById(before.id);
        const sessionEpoch = await endAllSessions(trx, before.id);
        await AuditEntry.query(trx).insert(audit(ctx, principal!.userId, 'user.deactivated', before.id, { reason: body?.reason ?? null, sessionEpoch }));
        return User.query(trx).findById(before.id).throwIfNotFound();
      });
      ctx.sessions.forget(user.id);
      return { body: toItem(user) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/users/{id}/reactivate', operationId: 'reactivateUser', tag: 'Users', auth: ADMIN,
    summary: 'Reactivate an account: it may log in again (its old sessions stay ended)',
    params: idParams,
    responses: { 200: { description: 'Active (or already)', schema: userItem }, 404: { description: 'No such account' } },
    handler: async (ctx, { params, principal }) => {
      const user = await ctx.knex.transaction(async (trx) => {
        const before = await User.query(trx).findById(params.id).forUpdate();
        if (!before) throw notFound('user', params.id);
        if (before.active) return before;
        const after = await User.query(trx).patchAndFetchById(before.id, { active: true, updatedAt: new Date() });
        await AuditEntry.query(trx).insert(audit(ctx, principal!.userId, 'user.reactivated', before.id, {}));
        return after;
      });
      ctx.sessions.forget(user.id);
      return { body: toItem(user) };
    },
  }),
];
