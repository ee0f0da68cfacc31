/**
 * Data-subject requests: an admin or operator files one for an email (export or erasure); a
 * DataPrivacy run handles it (an erasure waits in the approvals inbox). The request's status is
 * read from its run: running, waiting_approval, completed, rejected (the erasure was rejected or
 * expired undecided) or failed.
 */
import { z } from 'zod';
import { auditActor, recordAudit } from '../../models/audit';
import { startAgentRun } from '../../services/agent-runs';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { uuid } from '../schemas';

const STAFF = ['admin', 'operator'] as const;

const requestSchema = z.object({
  object: z.literal('privacy_request'), id: uuid, email: z.string(), kind: z.enum(['export', 'erasure']),
  status: z.enum(['running', 'waiting_approval', 'completed', 'rejected', 'failed']), agentRunId: z.string().nullable(),
  result: z.unknown(), requestedAt: z.string(), completedAt: z.string().nullable(),
});

async function view(knex: import('knex').Knex, r: Record<string, any>) {
  let status: z.infer<typeof requestSchema>['status'] = 'running';
  if (r.completed_at) status = 'completed';
  else {
    const run = r.agent_run_id ? await knex('agent_runs').where({ id: r.agent_run_id }).first('status', 'output') : undefined;
    if (run?.status === 'waiting_approval') status = 'waiting_approval';
    else if (run?.status === 'failed') status = 'failed';
    else if (run?.status === 'completed') {
      const actions: Array<{ status: string }> = run.output?.actions ?? [];
      status = actions.some((a) => a.status === 'rejected' || a.status === 'expired') ? 'rejected' : 'failed';
    }
  }
  return {
    object: 'privacy_request' as const, id: r.id, email: r.email, kind: r.kind, status, agentRunId: r.agent_run_id, result: r.result ?? null,
    requestedAt: new Date(r.created_at).toISOString(), completedAt: r.completed_at ? new Date(r.completed_at).toISOString() : null,
  };
}

export const privacyRoutes = [
  route({
    method: 'POST', path: '/api/v1/privacy/requests', operationId: 'createPrivacyRequest', tag: 'Privacy', auth: STAFF,
    summary: 'File a data-subject request: an export of everything we hold on an email, or its erasure (after approval)',
    description: 'Starts a DataPrivacy run (its id is agentRunId). An export is stored on the request (GET .../export); an erasure waits in the approvals inbox, '
      + 'then anonymises the person and keeps invoices, payments and booking amounts.',
    idempotent: true,
    body: z.object({ email: z.email({ error: 'must be an email address' }).max(254), kind: z.enum(['export', 'erasure']) }).strict(),
    responses: { 202: { description: 'Filed; follow it at GET /api/v1/privacy/requests/{id}', schema: requestSchema } },
    handler: async (ctx, { body, principal }) => {
      const [row] = await ctx.knex('privacy_requests').insert({ email: body.email.trim().toLowerCase(), kind: body.kind, requested_by_user_id: principal!.userId }).returning('*');
      const { runId } = await startAgentRun(await ctx.temporalClient(), ctx.knex, {
        agent: 'DataPrivacy', input: { requestId: row.id }, occasion: `privacy-${row.id}`, trigger: 'event', requestedBy: principal!.userId,
      });
      await ctx.knex('privacy_requests').where({ id: row.id }).update({ agent_run_id: runId });
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'privacy.requested', entityType: 'privacy_request', entityId: row.id, data: { kind: body.kind, agentRunId: runId } });
      return { status: 202, headers: { Location: `/api/v1/privacy/requests/${row.id}` }, body: await view(ctx.knex, { ...row, agent_run_id: runId }) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/privacy/requests/{id}', operationId: 'getPrivacyRequest', tag: 'Privacy', auth: STAFF,
    summary: 'A data-subject request: its status and, when done, what was exported or erased and kept',
    params: z.object({ id: uuid }),
    responses: { 200: { description: 'The request', schema: requestSchema }, 404: { description: 'No such request' } },
    handler: async (ctx, { params }) => {
      const row = await ctx.knex('privacy_requests').where({ id: params.id }).first();
      if (!row) throw notFound('privacy request', params.id);
      return { body: await view(ctx.knex, row) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/privacy/requests/{id}/export', operationId: 'downloadPrivacyExport', tag: 'Privacy', auth: STAFF,
    summary: 'The export bundle of a completed export request (JSON, as a download)',
    params: z.object({ id: uuid }),
    responses: {
      200: {
        description: 'Everything we hold on the person',
        schema: z.object({ email: z.string() }).catchall(z.array(z.record(z.string(), z.unknown())))
          .describe('The email, then one list per kind of record: customers, contacts (with consents), bookings, travellers, messages, campaignMessages, payments, accounts, ...'),
      },
      404: { description: 'No such request' }, 409: { description: 'Not an export, or not ready yet' } },
    handler: async (ctx, { params }) => {
      const row = await ctx.knex('privacy_requests').where({ id: params.id }).first();
      if (!row) throw notFound('privacy request', params.id);
      if (row.kind !== 'export' || !row.export) throw new Problem(409, 'export_not_ready', row.kind === 'export' ? 'The export is not ready yet; follow the request.' : 'This request is an erasure: it has no export.');
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'privacy.export_downloaded', entityType: 'privacy_request', entityId: row.id });
      return { headers: { 'Content-Disposition': `attachment; filename="privacy-export-${row.id}.json"` }, body: row.export };
    },
  }),
];
