/**
 * What a booking holds in money, from its ledger rows (payments and refunds), never from a
 * counter: net paid = captured − refunded. Refunds in flight (pending) count as refunded, so
 * money on its way back can never be refunded a second time; a failed refund does not.
 * One function for every decision that depends on it: amendments, cancellation tiers, repricing
 * and what is left to pay.
 */

/** A payment whose money we took (some or all of it may have been refunded since). */
export const CAPTURED_PAYMENT_STATUSES = ['captured', 'partially_refunded', 'refunded'] as const;
/** Refunds that have left, or are leaving, our hands. */
export const COUNTED_REFUND_STATUSES = ['pending', 'succeeded'] as const;

export interface LedgerPayment { id: string; status: string; amountMinor: number }
export interface LedgerRefund { paymentId: string; status: string; amountMinor: number }

export interface Ledger {
  capturedMinor: number;
  refundedMinor: number;
  netPaidMinor: number;
  /** What each captured payment still holds, oldest first (the order the rows came in). */
  refundable: Array<{ paymentId: string; leftMinor: number }>;
}

export function ledgerOf(payments: LedgerPayment[], refunds: LedgerRefund[]): Ledger {
  const counted = new Set<string>(COUNTED_REFUND_STATUSES);
  const captured = payments.filter((p) => (CAPTURED_PAYMENT_STATUSES as readonly string[]).includes(p.status));
  const refundedBy = new Map<string, number>();
  for (const r of refunds) if (counted.has(r.status)) refundedBy.set(r.paymentId, (refundedBy.get(r.paymentId) ?? 0) + r.amountMinor);
  const refundable = captured.map((p) => ({ paymentId: p.id, leftMinor: Math.max(0, p.amountMinor - (refundedBy.get(p.id) ?? 0)) }));
  const capturedMinor = captured.reduce((s, p) => s + p.amountMinor, 0);
  const refundedMinor = captured.reduce((s, p) => s + Math.min(p.amountMinor, refundedBy.get(p.id) ?? 0), 0);
  return { capturedMinor, refundedMinor, netPaidMinor: capturedMinor - refundedMinor, refundable };
}

/** What is left to pay of `payableMinor`. */
export function amountDue(payableMinor: number, ledger: Pick<Ledger, 'netPaidMinor'>): number {
  return Math.max(0, payableMinor - ledger.netPaidMinor);
}

/** What an amendment gives back: whatever was paid beyond the new price. */
export function overpaid(payableMinor: number, ledger: Pick<Ledger, 'netPaidMinor'>): number {
  return Math.max(0, ledger.netPaidMinor - payableMinor);
}

/**
 * Spreads a refund over the captured payments, newest first, never more than each still holds.
 * Asking for more than the ledger holds refunds what it holds (the caller records both).
 */
export function allocateRefund(ledger: Ledger, amountMinor: number): Array<{ paymentId: string; amountMinor: number }> {
  let left = Math.min(amountMinor, ledger.netPaidMinor);
  const plan: Array<{ paymentId: string; amountMinor: number }> = [];
  for (const p of [...ledger.refundable].reverse()) {
    if (left <= 0) break;
    const take = Math.min(left, p.leftMinor);
    if (take > 0) plan.push({ paymentId: p.paymentId, amountMinor: take });
    left -= take;
  }
  return plan;
}
