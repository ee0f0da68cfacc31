/**
 * What a booking's payment link shows and pays: the amount due now, read as the booking workflow
 * reads it (workflows/booking/state.ts `due()`): while held, the deposit (deposit plans) or the
 * full amount; afterwards, the balance — the payable total less the ledger's net paid. Shared by
 * the chat's payment link (agents/multi-channel-hub) and its page (api/routes/booking-pay.ts).
 */
import type { Knex } from 'knex';
import { bookingLedger } from './ledger';

export interface BookingPaymentState {
  bookingId: string;
  reference: string;
  status: string;
  customerId: string | null;
  currency: string;
  language: 'es' | 'en';
  tourTitle: string;
  startsAt: string;
  timezone: string;
  payableMinor: number;
  paidMinor: number;
  /** null: nothing can be paid now (closed, paid in full, in progress). */
  due: { purpose: 'deposit' | 'balance' | 'full'; amountMinor: number } | null;
  holdExpiresAt: string | null;
}

const PAYABLE = ['held', 'awaiting_payment', 'confirmed'];

export async function bookingPaymentState(knex: Knex, bookingId: string): Promise<BookingPaymentState | undefined> {
  const b = await knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
    .leftJoin('tour_translations as tl', (j) => j.on('tl.tour_id', 't.id').andOn('tl.language', 'b.language'))
    .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'))
    .where('b.id', bookingId)
    .first('b.*', 'd.starts_at', 'd.timezone', knex.raw('coalesce(tl.title, te.title, t.code) as tour_title'));
  if (!b) return undefined;
  const ledger = await bookingLedger(knex, b.id);
  const payable = Number(b.partner_id ? b.net_minor : b.total_minor);
  let due: BookingPaymentState['due'] = null;
  if (PAYABLE.includes(b.status) && b.payment_plan !== 'on_account') {
    if (b.status === 'held') due = b.payment_plan === 'deposit' ? { purpose: 'deposit', amountMinor: Number(b.deposit_minor) } : { purpose: 'full', amountMinor: payable };
    else if (payable - ledger.netPaidMinor > 0) due = { purpose: 'balance', amountMinor: payable - ledger.netPaidMinor };
  }
  return {
    bookingId: b.id, reference: b.reference, status: b.status, customerId: b.customer_id, currency: b.currency, language: b.language === 'es' ? 'es' : 'en',
    tourTitle: b.tour_title, startsAt: new Date(b.starts_at).toISOString(), timezone: b.timezone, payableMinor: payable, paidMinor: ledger.netPaidMinor, due,
    holdExpiresAt: b.status === 'held' && b.hold_expires_at ? new Date(b.hold_expires_at).toISOString() : null,
  };
}
