/**
 * Approvals that no workflow waits for: a refund the provider refused or never confirmed
 * (`manual_refund`). A person settles it outside the platform (the provider's dashboard, a bank
 * transfer) and approves, or decides it will not be made and rejects; the ledger says so either way.
 */
import type { Knex } from 'knex';
import { Refused } from '../domain/refusals';
import { refundMade } from './ledger';

export async function settleManualRefund(knex: Knex, approvalId: string, made: boolean, userId: string, note?: string): Promise<{ status: 'approved' | 'rejected'; amountMinor: number }> {
  return knex.transaction(async (trx) => {
    const approval = await trx('approvals').where({ id: approvalId, kind: 'manual_refund' }).forUpdate().first();
    if (!approval || approval.status !== 'pending') throw new Refused('conflict', 'approval_not_pending', `This approval is already ${approval?.status ?? 'gone'}.`);
    const ids: string[] = (approval.data?.refunds ?? []).map((r: { refundId: string }) => r.refundId);
    const open = ids.length ? await trx('refunds').whereIn('id', ids).whereIn('status', ['pending', 'failed']).forUpdate() : [];
    let amountMinor = 0;
    for (const refund of open) {
      amountMinor += Number(refund.amount_minor);
      await trx('refunds').where({ id: refund.id }).update({
        status: made ? 'succeeded' : 'rejected', provider_ref: made ? `manual:${userId}` : refund.provider_ref,
        failure_reason: made ? refund.failure_reason : `not made: ${note ?? 'rejected'}`, updated_at: trx.fn.now(),
      });
      if (made) await refundMade(trx, refund);
    }
    const status = made ? 'approved' : 'rejected';
    await trx('approvals').where({ id: approvalId }).update({ status, decided_by_user_id: userId, decision_note: note ?? null, decided_at: trx.fn.now() });
    await trx('booking_events').insert({
      booking_id: approval.booking_id, type: made ? 'refund_made_by_hand' : 'refund_not_made', actor: `user:${userId}`,
      data: JSON.stringify({ approvalId, amountMinor, currency: approval.currency, note: note ?? null }), dedupe_key: `approval-${approvalId}/${status}`,
    }).onConflict(['booking_id', 'dedupe_key']).ignore();
    return { status, amountMinor: made ? amountMinor : 0 };
  });
}
