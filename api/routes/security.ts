/** CyberSentinel's view for admins: security events, blocks (list, lift) and alerts. */
import { z } from 'zod';
import { auditActor } from '../../models/audit';
import { blockView, liftBlock } from '../../services/security';
import { notFound } from '../http/problem';
import { route } from '../http/routes';
import { uuid } from '../schemas';

const ADMINS = ['admin'] as const;
const at = z.string().describe('ISO 8601 date-time');
/** These lists are the newest `limit` rows, not pages: no cursor. */
const recentOf = <T extends z.ZodType>(item: T) => z.object({ object: z.literal('list'), data: z.array(item) });
const blockSchema = z.object({
  id: uuid, scope: z.enum(['ip', 'account']), value: z.string().describe('The address, or the account\'s email (user:<id> when it has none)'),
  userId: uuid.nullable(), reason: z.string(), expiresAt: at, createdBy: z.string().describe('Who placed it: an agent run or an admin'),
  createdAt: at, liftedAt: at.nullable(),
});
const limit = z.coerce.number().int().min(1).max(500).default(100);

export const securityRoutes = [
  route({
    method: 'GET', path: '/api/v1/security/events', operationId: 'listSecurityEvents', tag: 'Security', auth: ADMINS,
    summary: 'Recent security events (failed logins, refresh-token reuse, 401/403 answers), newest first',
    query: z.object({ kind: z.enum(['login_failed', 'refresh_reused', 'http_401', 'http_403']).optional(), ip: z.string().max(64).optional(), limit }),
    responses: {
      200: {
        description: '{ data: [{ id, kind, ip, account, path, at }] }',
        schema: recentOf(z.object({
          id: z.string(), kind: z.enum(['login_failed', 'refresh_reused', 'http_401', 'http_403']), ip: z.string(), account: z.string().nullable(), path: z.string().nullable(), at,
        })),
      },
    },
    handler: async (ctx, { query }) => {
      const q = ctx.knex('security_events').orderBy('id', 'desc').limit(query.limit);
      if (query.kind) q.where({ kind: query.kind });
      if (query.ip) q.where({ ip: query.ip });
      const rows = await q;
      return { body: { object: 'list', data: rows.map((r) => ({ id: String(r.id), kind: r.kind, ip: r.ip, account: r.account, path: r.path, at: new Date(r.at).toISOString() })) } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/security/blocks', operationId: 'listSecurityBlocks', tag: 'Security', auth: ADMINS,
    summary: 'Blocks in force (or, with all=true, every block including lifted and expired ones), newest first',
    query: z.object({ all: z.enum(['true', 'false']).optional(), limit }),
    responses: { 200: { description: '{ data: [{ id, scope, value, userId, reason, expiresAt, createdBy, createdAt, liftedAt }] }', schema: recentOf(blockSchema) } },
    handler: async (ctx, { query }) => {
      const q = ctx.knex('security_blocks').orderBy('created_at', 'desc').limit(query.limit);
      if (query.all !== 'true') q.whereNull('lifted_at').where('expires_at', '>', new Date());
      return { body: { object: 'list', data: (await q).map(blockView) } };
    },
  }),
  route({
    method: 'DELETE', path: '/api/v1/security/blocks/{id}', operationId: 'liftSecurityBlock', tag: 'Security', auth: ADMINS,
    summary: 'Lift a block now (every API instance hears of it at once)',
    params: z.object({ id: uuid }),
    responses: { 200: { description: 'The block, lifted', schema: blockSchema.extend({ object: z.literal('security_block') }) }, 404: { description: 'No such block' } },
    handler: async (ctx, { params, principal }) => {
      const lifted = await liftBlock(ctx.knex, params.id, { ...auditActor(ctx), userId: principal!.userId } as { userId: string; requestId?: string; ip?: string });
      if (!lifted) throw notFound('security block', params.id);
      await ctx.security.reload(); // this instance at once; the others on NOTIFY
      return { body: { object: 'security_block', ...lifted } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/security/alerts', operationId: 'listSecurityAlerts', tag: 'Security', auth: ADMINS,
    summary: 'The admins\' security inbox: CyberSentinel\'s alerts, newest first',
    query: z.object({ limit }),
    responses: {
      200: {
        description: '{ data: [{ id, severity, summary, findings, agentRunId, createdAt }] }',
        schema: recentOf(z.object({
          id: uuid, severity: z.enum(['info', 'warning', 'critical']), summary: z.string(), findings: z.array(z.unknown()).describe('What CyberSentinel found'),
          agentRunId: z.string().nullable(), createdAt: at,
        })),
      },
    },
    handler: async (ctx, { query }) => {
      const rows = await ctx.knex('security_alerts').orderBy('created_at', 'desc').limit(query.limit);
      return { body: { object: 'list', data: rows.map((r) => ({ id: r.id, severity: r.severity, summary: r.summary, findings: r.findings, agentRunId: r.agent_run_id, createdAt: new Date(r.created_at).toISOString() })) } };
    },
  }),
];
