/**
 * The payment saga of a booking: authorize → supplier components → capture → record, undone in
 * reverse on failure (components, then the authorization, then the seats), and the refunds.
 * Created once the booking is loaded; it reads and changes the run's state (state.ts).
 */
import { patched, workflowInfo } from '@temporalio/workflow';
import type { BookingSnapshot, RefundOutcome } from '../../activities/booking';
import { isTerminalStatus } from '../../domain/bookings';
import type { FraudVerdict } from '../../activities/fraud';
import type { ApprovalResult, PayRequest, PayResult } from '../booking-messages';
import {
  appendEvent, authorizePayment, bookingLedger, cancelComponent, capturePayment, checkFraud, closeBooking, offerWaitlist, queueMessage, recordApprovalDecision, recordPayment,
  refreshPayment, refundBooking, refundPayment, requestManualRefund, reserveComponent, reviewUnscored, voidPayment,
} from './activities';
import { failureMessage, failureType } from './clock';
import { refuse, type BookingLifecycle, type PendingPayment } from './state';

/** FraudGuardian scores each payment attempt before authorization (bookings on the corrected path). */
const FRAUD_PATCH = 'fraud-guardian-1';

export function bookingSaga(s: BookingLifecycle) {
  const { bookingId, fixed, booking } = s;
  const clock = s.clock!;

  const close = async (to: 'expired' | 'failed' | 'cancelled', reason: string, eventKey: string, actor?: string) => {
    const { seatsReleased } = await closeBooking({ bookingId, to, reason, eventKey, actor });
    s.moveTo(to);
    // Added after bookings were already running: histories recorded before it replay without it.
    if (seatsReleased > 0 && patched('waitlist-offers')) await offerWaitlist({ departureId: booking.departureId });
  };

  /** A compensation step that fails is written on the timeline and the saga goes on undoing. */
  const compensate = async (step: () => Promise<unknown>, key: string, what: string) => {
    if (!fixed) return step();
    try {
      await step();
    } catch (err) {
      await appendEvent({ bookingId, key, type: 'compensation_failed', data: { step: what, reason: failureMessage(err) } });
    }
  };

  /** Suppliers, then capture; on failure, undo in reverse: components, then the authorization. */
  const completePayment = async (p: Omit<PendingPayment, 'actionUrl' | 'providerRef'>): Promise<PayResult> => {
    const confirmed: BookingSnapshot['components'] = [];
    try {
      if (p.purpose !== 'balance') {
        for (const c of booking.components) {
          await reserveComponent({ bookingId, itemId: c.itemId, supplier: c.supplier, description: c.description, attemptKey: p.attemptKey });
          confirmed.push(c);
        }
      }
      await capturePayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey });
    } catch (err) {
      const reason = failureMessage(err);
      for (const c of [...confirmed].reverse()) {
        await compensate(() => cancelComponent({ bookingId, itemId: c.itemId, description: c.description, attemptKey: p.attemptKey }), `${p.attemptKey}/item-${c.itemId}/cancel-failed`, `cancel ${c.description}`);
      }
      await compensate(() => voidPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey }), `${p.attemptKey}/void-failed`, 'void the authorization');
      if (p.purpose !== 'balance') await close('failed', reason, `${p.attemptKey}/failed`);
      return { outcome: 'failed', bookingStatus: s.status, paymentId: p.paymentId, reason, code: failureType(err) };
    }
    const recorded = await recordPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey });
    if (p.purpose !== 'balance' && booking.components.length) s.componentsReservedBy = p.attemptKey;
    s.capturedPayments.push({ paymentId: p.paymentId, amountMinor: p.amountMinor });
    s.amountPaidMinor = recorded.amountPaidMinor;
    s.moveTo(recorded.status);
    if (p.purpose !== 'balance') {
      await queueMessage({ bookingId, channel: 'email', template: 'booking_confirmation', key: 'confirmation' });
      await queueMessage({ bookingId, channel: 'whatsapp', template: 'booking_confirmation', key: 'confirmation' });
    } else {
      await queueMessage({ bookingId, channel: 'email', template: 'payment_receipt', key: `${p.attemptKey}/receipt` });
    }
    return { outcome: 'succeeded', bookingStatus: s.status, paymentId: p.paymentId, amountMinor: p.amountMinor, purpose: p.purpose };
  };

  /**
   * FraudGuardian's verdict on this attempt. When the check itself cannot run within its bound,
   * the attempt goes to a person (review), never through: an unscored payment is not a safe one.
   */
  const fraudVerdict = async (req: PayRequest, attemptKey: string, purpose: PayResult['purpose'] & string, amountMinor: number): Promise<FraudVerdict> => {
    const input = {
      bookingId, workflowId: workflowInfo().workflowId, attemptKey, provider: req.provider, paymentMethod: req.paymentMethod, clientIp: req.clientIp ?? null,
      amountMinor, currency: booking.currency, purpose, timeScale: booking.rules.timeScale,
    };
    try {
      return await checkFraud(input);
    } catch (err) {
      if (failureType(err) === 'BookingMissing') throw err;
      return reviewUnscored({ ...input, error: failureMessage(err) });
    }
  };

  const pay = async (req: PayRequest): Promise<PayResult> => {
    if (isTerminalStatus(s.status)) refuse('BookingClosed', `the booking is ${s.status}`);
    const { purpose, amountMinor } = s.due();
    if (amountMinor <= 0) refuse('NothingToPay', 'nothing is left to pay');
    const attemptKey = `pay-${++s.attempts}`;
    // Added after bookings were already running: their recorded payments replay without the check.
    if (fixed && booking.fraudCheck !== false && patched(FRAUD_PATCH)) {
      const verdict = await fraudVerdict(req, attemptKey, purpose, amountMinor);
      const fraud = { score: verdict.score, signals: verdict.signals, approvalId: verdict.approvalId, expiresAt: verdict.review?.expiresAt ?? null };
      if (verdict.decision === 'block') {
        // Nothing is authorized; like a decline, the hold keeps its own expiry.
        return { outcome: 'refused', bookingStatus: s.status, reason: verdict.reason, code: 'fraud_suspected', amountMinor, purpose, fraud };
      }
      if (verdict.decision === 'review') {
        s.pendingReview = {
          approvalId: verdict.approvalId!, attemptKey, provider: req.provider, paymentMethod: req.paymentMethod, purpose, amountMinor,
          expiresAtMs: Date.now() + clock.scaled(verdict.review!.timeoutMs), onTimeout: verdict.review!.onTimeout,
        };
        return { outcome: 'review', bookingStatus: s.status, reason: verdict.reason, code: 'payment_review', amountMinor, purpose, fraud };
      }
    }
    return authorizeAndComplete(req, attemptKey, purpose, amountMinor);
  };

  /** The saga from authorization on (a payment that passed the check, or one a person approved). */
  const authorizeAndComplete = async (req: Pick<PayRequest, 'provider' | 'paymentMethod'>, attemptKey: string, purpose: 'deposit' | 'balance' | 'full', amountMinor: number): Promise<PayResult> => {
    let auth;
    try {
      auth = await authorizePayment({ bookingId, attemptKey, provider: req.provider, paymentMethod: req.paymentMethod, amountMinor, currency: booking.currency, purpose });
    } catch (err) {
      if (failureType(err) === 'ProviderNotConfigured') refuse('ProviderNotConfigured', failureMessage(err));
      // The provider did not answer within its bound: nothing was captured; the customer may try again.
      if (fixed) refuse('PaymentUnavailable', `the payment provider did not answer: ${failureMessage(err)}; nothing was captured, try again`);
      throw err;
    }
    if (auth.status === 'declined') {
      // The saga's first step failed. Corrected path: the hold stays, so another card can be tried while it lasts.
      if (purpose !== 'balance' && !fixed) await close('failed', `payment declined: ${auth.reason}`, `${attemptKey}/failed`);
      return { outcome: 'declined', bookingStatus: s.status, paymentId: auth.paymentId, reason: auth.reason, code: auth.code, amountMinor, purpose };
    }
    if (auth.status === 'requires_action') {
      s.pendingPayment = {
        attemptKey, paymentId: auth.paymentId, providerRef: auth.providerRef, actionUrl: auth.actionUrl, purpose, amountMinor,
        expiresAtMs: fixed ? Date.now() + clock.scaled(booking.rules.paymentActionTimeoutMinutes * 60_000) : undefined,
      };
      return { outcome: 'requires_action', bookingStatus: s.status, paymentId: auth.paymentId, actionUrl: auth.actionUrl, amountMinor, purpose };
    }
    return completePayment({ attemptKey, paymentId: auth.paymentId, purpose, amountMinor });
  };

  /**
   * A person decided a payment review (or its deadline did): approved, the saga authorizes and
   * completes it; rejected, the hold's seats go back and the booking fails (a balance payment is
   * only refused: the booking stays as it is).
   */
  const decideReview = async (d: { approve: boolean; by: string | null; note?: string; expired?: boolean }): Promise<ApprovalResult> => {
    const r = s.pendingReview!;
    s.pendingReview = undefined;
    await recordApprovalDecision({ approvalId: r.approvalId, bookingId, decision: d.expired ? 'expired' : d.approve ? 'approved' : 'rejected', by: d.by, note: d.note });
    if (d.approve) {
      let payment: PayResult;
      try {
        payment = await authorizeAndComplete(r, r.attemptKey, r.purpose, r.amountMinor);
      } catch (err) {
        payment = { outcome: 'failed', bookingStatus: s.status, reason: failureMessage(err), code: failureType(err), amountMinor: r.amountMinor, purpose: r.purpose };
      }
      return { outcome: payment.outcome, bookingStatus: s.status, refundMinor: 0, payment };
    }
    if (r.purpose !== 'balance' && s.status === 'held') {
      await close('failed', `the payment was refused after a fraud review${d.note ? `: ${d.note}` : ''}`, `${r.attemptKey}/review-failed`);
    }
    return { outcome: 'rejected', bookingStatus: s.status, refundMinor: 0 };
  };

  /** Nobody decided the review in time (or the trip started): recorded as expired, and its default applies. */
  const expireReview = (note: string, outcome?: 'approve' | 'reject') => {
    const r = s.pendingReview!;
    return decideReview({ approve: (outcome ?? r.onTimeout) === 'approve', by: null, note, expired: true });
  };

  /** A signal (webhook, hosted page) or a deadline says how the customer's action ended. */
  const settlePendingPayment = async (outcome: 'authorized' | 'declined', reason?: string) => {
    const p = s.pendingPayment!;
    s.pendingPayment = undefined;
    if (outcome === 'authorized') {
      await completePayment(p);
    } else {
      await appendEvent({ bookingId, key: `${p.attemptKey}/declined`, type: 'payment_declined', data: { reason: reason ?? 'authentication failed' } });
      if (p.purpose !== 'balance' && !fixed) await close('failed', `payment declined: ${reason ?? 'authentication failed'}`, `${p.attemptKey}/failed`);
    }
  };

  /** The customer never finished the action: ask the provider once, then let the attempt go (the hold, if any, keeps its own expiry). */
  const abandonPendingPayment = async () => {
    const p = s.pendingPayment!;
    const state = await refreshPayment(p.paymentId);
    if (state.state === 'authorized') return settlePendingPayment('authorized');
    s.pendingPayment = undefined;
    await compensate(() => voidPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey }), `${p.attemptKey}/void-failed`, 'void the abandoned authorization');
    await appendEvent({ bookingId, key: `${p.attemptKey}/action-expired`, type: 'payment_action_expired', data: { minutes: booking.rules.paymentActionTimeoutMinutes } });
  };

  /**
   * Gives back `refundMinor`. Corrected path: one recorded plan over the ledger; what the provider
   * refuses, or never confirms, waits for a person in the approvals inbox — the booking goes on.
   */
  const refundPaid = async (refundMinor: number, reason: string, key: string): Promise<number> => {
    if (!fixed) {
      let left = refundMinor;
      for (const payment of [...s.capturedPayments].reverse()) {
        if (left <= 0) break;
        const amount = Math.min(left, payment.amountMinor);
        if (amount <= 0) continue;
        await refundPayment({ bookingId, paymentId: payment.paymentId, amountMinor: amount, reason, refundKey: key });
        payment.amountMinor -= amount;
        left -= amount;
      }
      return refundMinor;
    }
    if (refundMinor <= 0) return 0;
    let outcome: RefundOutcome | undefined;
    try {
      outcome = await refundBooking({ bookingId, amountMinor: refundMinor, reason, refundKey: key });
    } catch {
      // Timed out: the plan is recorded; what is not confirmed goes to a person below.
    }
    if (!outcome || outcome.failed.length) await requestManualRefund({ bookingId, workflowId: workflowInfo().workflowId, refundKey: key, reason });
    return outcome ? outcome.refundedMinor : 0;
  };

  /** What the ledger holds now (corrected path); the older path trusted its own counter. */
  const paidNow = async (): Promise<number> => (fixed ? (await bookingLedger({ bookingId })).netPaidMinor : s.amountPaidMinor);

  return { close, compensate, completePayment, pay, decideReview, expireReview, settlePendingPayment, abandonPendingPayment, refundPaid, paidNow };
}

export type BookingSaga = ReturnType<typeof bookingSaga>;
