/**
 * The approvals inbox: everything that waits for a person, in one list. Each kind is decided by
 * the workflow that asked (its validator has the last word) or, for a refund the provider would
 * not make, settled by hand:
 * - refund (a cancellation's big or late refund) → the booking's `decideApproval` update;
 * - payment_review (FraudGuardian's review of a payment) → the booking's `decideApproval` update;
 * - manual_refund → settled here (models/approvals.ts), no workflow waits;
 * - agent_action (an agent's proposed action) → the agent run's `decideAction` update.
 * Every decision goes to the audit log.
 */
import { z } from 'zod';
import { settleManualRefund } from '../../models/approvals';
import { auditActor, recordAudit } from '../../models/audit';
import type { Role } from '../../models';
import { decideAgentAction } from '../../services/agent-runs';
import { steerBookingAs } from '../../services/booking-workflows';
import { decideApprovalUpdate } from '../../workflows/booking-messages';
import type { Principal } from '../auth';
import { decodeCursor, page } from '../http/cursor';
import { updateIdFor } from '../http/idempotency';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { cursor, idParams, limit, listOf, uuid } from '../schemas';

export const APPROVAL_KINDS = ['refund', 'manual_refund', 'payment_review', 'agent_action'] as const;
type ApprovalKind = (typeof APPROVAL_KINDS)[number];

/** Who may decide each kind. Money going back: accountants; payments under review and agents' actions: operators. Admins: all. */
export const DECIDERS: Record<ApprovalKind, readonly Role[]> = {
  refund: ['admin', 'accountant'],
  manual_refund: ['admin', 'accountant'],
  payment_review: ['admin', 'operator'],
  agent_action: ['admin', 'operator'],
};

const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);

const approvalItem = z.object({
  object: z.literal('approval'), id: uuid, kind: z.enum(APPROVAL_KINDS), status: z.enum(['pending', 'approved', 'rejected', 'expired']),
  what: z.string().describe('Exactly what will happen when it is approved'),
  reason: z.string(), requestedBy: z.object({ kind: z.enum(['user', 'agent', 'system']), id: z.string().nullable() }),
  requestedAt: z.string(), expiresAt: z.string().nullable(), onExpiry: z.enum(['approve', 'reject']),
  decidedAt: z.string().nullable(), decidedBy: z.string().nullable(), decisionNote: z.string().nullable(),
  bookingId: uuid.nullable(), agentRunId: z.string().nullable(), branchId: uuid.nullable(),
  amount: z.number().nullable(), currency: z.string().nullable(), deciders: z.array(z.string()), details: z.record(z.string(), z.unknown()),
}).meta({ id: 'Approval' });

const money = (minor: number | string | null, currency: string | null) => (minor === null || currency === null ? '' : `${(Number(minor) / 100).toFixed(2)} ${currency}`);

/** The words the inbox shows: what approving does, for every kind. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function whatHappens(a: any): string {
  const data = a.data ?? {};
  if (typeof data.what === 'string') return data.what;
  switch (a.kind as ApprovalKind) {
    case 'refund': return `Cancel booking ${a.booking_id} and refund ${money(data.refundMinor ?? a.amount_minor, a.currency)}.`;
    case 'manual_refund': return `Record that ${money(a.amount_minor, a.currency)} was refunded by hand for booking ${a.booking_id}; the ledger is corrected.`;
    case 'payment_review': return `Let the payment of ${money(a.amount_minor, a.currency)} for booking ${a.booking_id} go ahead.`;
    default: return a.reason;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function toItem(a: any): z.infer<typeof approvalItem> {
  const requestedBy = a.requested_by?.startsWith('agent:')
    ? { kind: 'agent' as const, id: a.requested_by.slice(6) }
    : a.requested_by_user_id ? { kind: 'user' as const, id: a.requested_by_user_id } : { kind: 'system' as const, id: null };
  return {
    object: 'approval', id: a.id, kind: a.kind, status: a.status, what: whatHappens(a), reason: a.reason, requestedBy,
    requestedAt: iso(a.requested_at)!, expiresAt: iso(a.expires_at), onExpiry: a.data?.onExpiry === 'approve' ? 'approve' : 'reject',
    decidedAt: iso(a.decided_at), decidedBy: a.decided_by_user_id ?? null, decisionNote: a.decision_note ?? null,
    bookingId: a.booking_id ?? null, agentRunId: a.agent_run_id ?? null, branchId: a.branch_id ?? null,
    amount: a.amount_minor === null ? null : Number(a.amount_minor), currency: a.currency ?? null, deciders: [...DECIDERS[a.kind as ApprovalKind]], details: a.data ?? {},
  };
}

/** Admins see every approval; others their branch's, and operators also agents' actions that belong to no branch. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function visible(q: any, p: Principal) {
  if (p.role === 'admin') return q;
  return q.where((w: typeof q) => {
    w.where('branch_id', p.branchId);
    if (p.role === 'operator') w.orWhere((n: typeof q) => n.whereNull('branch_id').where('kind', 'agent_action'));
  });
}

export const approvalRoutes = [
  route({
    method: 'GET', path: '/api/v1/approvals', operationId: 'listApprovals', tag: 'Approvals', auth: ['admin', 'accountant', 'operator'],
    summary: 'The approvals inbox: refunds, payment reviews and agents\' actions (your branch; all for admins), newest first',
    query: z.object({ status: z.enum(['pending', 'approved', 'rejected', 'expired']).optional(), kind: z.enum(APPROVAL_KINDS).optional(), limit, cursor }),
    responses: { 200: { description: 'Approvals, newest first', schema: listOf(approvalItem) } },
    handler: async (ctx, { query, principal }) => {
      const q = visible(ctx.knex('approvals'), principal!).orderBy([{ column: 'requested_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(query.limit + 1);
      if (query.status) q.where('status', query.status);
      if (query.kind) q.where('kind', query.kind);
      if (query.cursor) {
        const [at, id] = decodeCursor(query.cursor, ['timestamp', 'uuid']);
        q.whereRaw('(requested_at, id) < (?::timestamptz, ?::uuid)', [at as string, id as string]);
      }
      const rows = await q;
      return { body: page(rows, query.limit, toItem, (r) => [iso(r.requested_at), r.id]) };
    },
  }),
  ...(['approve', 'reject'] as const).map((action) => route({
    method: 'POST', path: `/api/v1/approvals/{id}/${action}`, operationId: `${action}Approval`, tag: 'Approvals', auth: ['admin', 'accountant', 'operator'],
    summary: action === 'approve'
      ? 'Approve: what the approval says happens (a refund: the booking is cancelled and refunded; a manual refund: it was made by hand; an agent action: it runs)'
      : 'Reject, with a reason: nothing of it happens (a refund: the booking stays as it was; a manual refund: it will not be made)',
    params: idParams,
    idempotent: true,
    body: z.object({ note: z.string().max(500).optional(), reason: z.string().max(500).optional() }).strict().optional().default({}),
    responses: {
      200: { description: 'Decided', schema: z.object({ object: z.literal('approval'), id: uuid, kind: z.enum(APPROVAL_KINDS), status: z.enum(['approved', 'rejected']) }).passthrough() },
      403: { description: 'Your role may not decide this kind, or you asked for it yourself' }, 404: { description: 'No such approval' },
      409: { description: 'Already decided, expired, or its workflow has moved on' }, 422: { description: 'A rejection needs a reason' },
    },
    handler: async (ctx, { params, body, principal }) => {
      const p = principal!;
      const approval = await visible(ctx.knex('approvals').where({ id: params.id }), p).first();
      if (!approval) throw notFound('approval', params.id);
      const kind = approval.kind as ApprovalKind;
      if (!DECIDERS[kind].includes(p.role)) throw new Problem(403, 'forbidden', `A ${p.role} may not decide a ${kind.replace('_', ' ')} approval; ${DECIDERS[kind].join(' or ')} may.`);
      if (approval.status !== 'pending') throw new Problem(409, 'approval_not_pending', `This approval is already ${approval.status}.`);
      if (approval.requested_by_user_id === p.userId) throw new Problem(403, 'forbidden', 'An approval must be decided by someone other than who asked for it.');
      const note = body?.reason ?? body?.note;
      if (action === 'reject' && !note?.trim()) throw new Problem(422, 'reason_required', 'Say why it is rejected: send {"reason": "..."}.', { param: 'reason' });
      const audit = (data: Record<string, unknown>) => recordAudit(ctx.knex, {
        ...auditActor(ctx), action: `approval.${action}`, entityType: 'approval', entityId: approval.id,
        data: { kind, bookingId: approval.booking_id ?? null, agentRunId: approval.agent_run_id ?? null, amountMinor: approval.amount_minor === null ? null : Number(approval.amount_minor), note: note ?? null, ...data },
      });
      if (kind === 'manual_refund') {
        // A refund the provider would not make, settled (or not) by a person: the ledger is corrected, no workflow is asked.
        const settled = await settleManualRefund(ctx.knex, approval.id, action === 'approve', p.userId, note);
        await audit({ refundMinor: settled.amountMinor });
        return { body: { object: 'approval', id: approval.id, kind, status: settled.status, bookingId: approval.booking_id, refund: { amount: settled.amountMinor, currency: approval.currency } } };
      }
      const client = await ctx.temporalClient();
      if (kind === 'agent_action') {
        const result = await decideAgentAction(client, approval, { approve: action === 'approve', by: p.userId, role: p.role, note }, updateIdFor(ctx, p));
        await audit({ agent: approval.data?.agent ?? null, tool: approval.data?.tool ?? null });
        return { body: { object: 'approval', id: approval.id, kind, status: result.status, agentRunId: approval.agent_run_id } };
      }
      const result = await steerBookingAs(client, approval.booking_id, decideApprovalUpdate, updateIdFor(ctx, p), { approvalId: approval.id, approve: action === 'approve', by: p.userId, note });
      if (kind === 'payment_review') {
        // Approved: the saga authorized and completed the payment (its outcome is said); rejected: the booking failed, its seats released.
        const pay = result.payment;
        await audit({ paymentOutcome: pay?.outcome ?? null, bookingStatus: result.bookingStatus });
        return {
          body: {
            object: 'approval', id: approval.id, kind, status: action === 'approve' ? 'approved' : 'rejected', bookingId: approval.booking_id, bookingStatus: result.bookingStatus,
            ...(pay ? { payment: { outcome: pay.outcome, id: pay.paymentId ?? null, amount: pay.amountMinor ?? null, currency: approval.currency, reason: pay.reason ?? null, actionUrl: pay.actionUrl ?? null } } : {}),
          },
        };
      }
      await audit({ refundMinor: result.refundMinor });
      return { body: { object: 'approval', id: approval.id, kind, status: action === 'approve' ? 'approved' : 'rejected', bookingId: approval.booking_id, bookingStatus: result.bookingStatus, refund: { amount: result.refundMinor, currency: approval.currency } } };
    },
  })),
];
