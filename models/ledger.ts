/** A booking's ledger read from its rows; the arithmetic is domain/ledger.ts. */
import type { Knex } from 'knex';
import { ledgerOf, type Ledger } from '../domain/ledger';

/** The booking's ledger (captured − refunded) from its payment and refund rows. */
export async function bookingLedger(q: Knex | Knex.Transaction, bookingId: string): Promise<Ledger> {
  const [payments, refunds] = await Promise.all([
    q('payments').where({ booking_id: bookingId }).orderBy([{ column: 'created_at' }, { column: 'id' }]).select('id', 'status', 'amount_minor'),
    q('refunds').where({ booking_id: bookingId }).select('payment_id', 'status', 'amount_minor'),
  ]);
  return ledgerOf(
    payments.map((p) => ({ id: p.id, status: p.status, amountMinor: Number(p.amount_minor) })),
    refunds.map((r) => ({ paymentId: r.payment_id, status: r.status, amountMinor: Number(r.amount_minor) })),
  );
}


/**
 * A refund row just became `succeeded` (by its provider, or by hand): the booking's counter and
 * the payment's status follow, in the caller's transaction. One place for both ways a refund is made.
 */
export async function refundMade(trx: Knex.Transaction, refund: { booking_id: string; payment_id: string; amount_minor: number | string }): Promise<void> {
  await trx('bookings').where({ id: refund.booking_id }).increment('amount_refunded_minor', Number(refund.amount_minor));
  const payment = await trx('payments').where({ id: refund.payment_id }).first('amount_minor');
  const totals = await trx('refunds').where({ payment_id: refund.payment_id, status: 'succeeded' }).sum<{ sum: number }[]>('amount_minor as sum');
  await trx('payments').where({ id: refund.payment_id }).update({ status: Number(totals[0].sum) >= Number(payment.amount_minor) ? 'refunded' : 'partially_refunded' });
}
