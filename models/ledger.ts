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

