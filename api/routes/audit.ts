/** The audit log's own check: recompute the hash chain and say where it breaks. Admins and accountants. */
import { z } from 'zod';
import { verifyAuditChain } from '../../models/audit';
import { route } from '../http/routes';

export const auditRoutes = [
  route({
    method: 'GET', path: '/api/v1/audit/verification', operationId: 'verifyAuditLog', tag: 'Audit', auth: ['admin', 'accountant'],
    summary: 'Verify the audit log\'s hash chain (every row\'s hash and its link to the row before)',
    description: 'Reads the whole log a page at a time. ok is false when a row was changed, removed or inserted out of the chain; broken names the first such row.',
    responses: {
      200: {
        description: '{ ok, checked, lastId, broken? }',
        schema: z.object({
          object: z.literal('audit_verification'), ok: z.boolean(), checked: z.int().describe('Rows checked'), lastId: z.int().nullable().describe('The last row that checked out'),
          broken: z.object({ id: z.int().nullable(), reason: z.enum(['content_changed', 'link_broken', 'head_mismatch']), detail: z.string() }).optional()
            .describe('The first row where the chain breaks, and how'),
        }),
      },
    },
    handler: async (ctx) => ({ body: { object: 'audit_verification', ...(await verifyAuditChain(ctx.knex)) } }),
  }),
];
