/**
 * One booking's whole life, from hold to review request. The workflow owns the booking's
 * transitions; PostgreSQL holds the record (activities write it, each change once). Callers
 * steer it through updates (pay, cancel, decide an approval) whose handlers only enqueue a
 * command: the main loop below runs every command and every timer one at a time, so a
 * payment saga and a cancellation can never interleave.
 *
 * Business time: every wait is "until an instant of the booking's calendar" (hold expiry,
 * balance due, departure). A branch's rules may compress that calendar (timeScale < 1) so that
 * tests and demos run months in seconds; at 1 it is the real calendar.
 *
 * Split by sub-process: booking/state.ts (the run's state and its message handlers),
 * booking/saga.ts (payment saga, compensations, refunds), booking/calendar.ts (waiting on the
 * calendar and the side deadlines), booking/activities.ts (proxies per timeout class). This file
 * is the story: the hold, the balance, the trip, and the commands (cancel, decide, amend).
 */
import { ApplicationFailure, ActivityFailure, allHandlersFinished, condition, continueAsNew, patched, workflowInfo } from '@temporalio/workflow';
import { fullRefund, refundFor } from '../domain/booking-rules';
import type {
  AmendRequest, AmendResult, ApprovalDecision, ApprovalResult, BookingCarry, CancelRequest, CancelResult,
} from './booking-messages';
import {
  amendBooking, cancelComponent, confirmOnAccount, createApproval, enrollAbandonedBooking, enrollBookingContact,
  loadBooking, markWorkflowStarted, offerWaitlist, queueMessage, recordApprovalDecision, refreshPayment, reserveComponent, setStatus, voidPayment,
} from './booking/activities';
import { bookingCalendar } from './booking/calendar';
import { BusinessClock, failureMessage, failureType } from './booking/clock';
import { bookingSaga } from './booking/saga';
import { BookingLifecycle, refuse, registerHandlers } from './booking/state';

/**
 * Bookings started before this version keep their old paths to the end (their histories replay
 * unchanged); new ones take the corrected money and calendar paths:
 * - money decisions read the ledger (captured − refunded) at the moment they are made, and a
 *   refund is one recorded plan; a refund the provider will not make goes to a person;
 * - a declined card keeps the hold, so the customer can try another while it lasts;
 * - a customer action (3-D Secure) and an approval each have a deadline;
 * - a pending approval pauses the balance reminders and the auto-cancel; it cannot be decided
 *   once the trip has started;
 * - reminders whose moment had passed before the booking reached them are skipped, not sent late;
 * - an amendment moves or resizes the supplier components too;
 * - compensation steps that fail are recorded, never fail the workflow.
 */
const CORRECTNESS_PATCH = 'booking-correctness-1';

/** A cancellation of the whole departure by the operator refunds in full (CancelRequest.departureCancelled). */
const DEPARTURE_CANCELLATION_PATCH = 'departure-cancellation-1';

const DAY = 86_400_000;

export async function bookingWorkflow(input: { bookingId: string; carry?: BookingCarry }): Promise<{ status: string; amountPaidMinor: number }> {
  const { bookingId } = input;
  const fixed = patched(CORRECTNESS_PATCH);
  const s = new BookingLifecycle(bookingId, fixed, input.carry);
  registerHandlers(s);

  // --- the story ---------------------------------------------------------------------------
  const booking = await loadBooking(bookingId);
  const clock = new BusinessClock(booking.rules.timeScale);
  s.loaded(booking, clock);
  await markWorkflowStarted(bookingId);
  s.publish();
  const { close, compensate, pay, decideReview, expireReview, settlePendingPayment, abandonPendingPayment, refundPaid, paidNow } = bookingSaga(s);

  /** `asOf`: the business instant the cancellation counts from (a scheduled auto-cancel uses its own time, not the clock's). */
  const cancel = async (req: CancelRequest, asOf: Date = clock.now()): Promise<CancelResult> => {
    const key = `cancel-${++s.cancellations}`;
    // A payment under fraud review is not made: its approval ends with the booking.
    if (s.pendingReview) await expireReview(`the booking was cancelled: ${req.reason}`, 'reject');
    if (s.pendingPayment) {
      const p = s.pendingPayment;
      await compensate(() => voidPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey }), `${p.attemptKey}/void-failed`, 'void the pending authorization');
      s.pendingPayment = undefined;
    }
    // Only a departure cancellation asks for the patch: older histories never carried the flag.
    const byOperator = req.departureCancelled === true && patched(DEPARTURE_CANCELLATION_PATCH);
    const refund = byOperator
      ? fullRefund(await paidNow(), new Date(booking.departureAt), asOf)
      : refundFor(booking.rules, await paidNow(), booking.currency, new Date(booking.departureAt), asOf);
    if (refund.needsApproval) {
      const timeoutMs = clock.scaled(booking.rules.approvalTimeoutHours * 3_600_000);
      const approvalId = await createApproval({
        bookingId, workflowId: workflowInfo().workflowId, amountMinor: refund.refundMinor, currency: booking.currency,
        reason: `${req.reason} (${refund.approvalReason})`, requestedBy: req.actor, key,
        ...(fixed ? {
          expiresAt: new Date(Date.now() + timeoutMs).toISOString(),
          data: { action: 'cancel_and_refund', refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore, onExpiry: booking.rules.approvalExpiryOutcome },
        } : {}),
      });
      s.pendingApproval = { approvalId, refund, reason: req.reason, expiresAtMs: fixed ? Date.now() + timeoutMs : undefined };
      return { outcome: 'pending_approval', bookingStatus: s.status, refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore, approvalId, approvalReason: refund.approvalReason ?? undefined };
    }
    await refundPaid(refund.refundMinor, req.reason, key);
    await close('cancelled', req.reason, `${key}/cancelled`, req.actor ? `user:${req.actor}` : undefined);
    await queueMessage({ bookingId, channel: 'email', template: 'booking_cancellation', key, data: byOperator ? { refundMinor: refund.refundMinor, departureCancelled: true, reason: req.reason } : { refundMinor: refund.refundMinor } });
    return { outcome: 'cancelled', bookingStatus: s.status, refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore };
  };

  const decide = async (d: ApprovalDecision | { approve: boolean; by: null; note: string; expired: true }): Promise<ApprovalResult> => {
    if (!('expired' in d) && s.pendingReview?.approvalId === d.approvalId) return decideReview(d);
    const approval = s.pendingApproval!;
    s.pendingApproval = undefined;
    const expired = 'expired' in d;
    await recordApprovalDecision({ approvalId: approval.approvalId, bookingId, decision: expired ? 'expired' : d.approve ? 'approved' : 'rejected', by: d.by, note: d.note });
    if (!d.approve) return { outcome: 'rejected', bookingStatus: s.status, refundMinor: 0 };
    const key = `approval-${approval.approvalId}`;
    await refundPaid(approval.refund.refundMinor, approval.reason, key);
    await close('cancelled', approval.reason, `${key}/cancelled`);
    await queueMessage({ bookingId, channel: 'email', template: 'booking_cancellation', key, data: { refundMinor: approval.refund.refundMinor } });
    return { outcome: 'cancelled', bookingStatus: s.status, refundMinor: approval.refund.refundMinor };
  };

  /** Nobody decided in time (or the trip started): recorded as expired, and the rules' default applies. */
  const expireApproval = (note: string, outcome: 'reject' | 'approve' = booking.rules.approvalExpiryOutcome) =>
    decide({ approve: outcome === 'approve', by: null, note, expired: true });

  /**
   * Corrected path: when the departure moves or the party changes size, the package components
   * are reserved again first (refused → the amendment is refused, nothing changed), then the
   * booking is amended, then the old reservations are released.
   */
  const rebookComponents = async (key: string, req: AmendRequest) => {
    const resized = req.passengers !== undefined && req.passengers.length !== booking.paxCount;
    const moved = req.departureId !== undefined && req.departureId !== booking.departureId;
    if (!fixed || s.status === 'held' || !(resized || moved)) return [];
    // Reserved either before this run (the snapshot says so) or by this run's own saga.
    const held = booking.components.filter((c) => c.status === 'confirmed' || s.componentsReservedBy !== undefined);
    const reserved: typeof held = [];
    try {
      for (const c of held) {
        await reserveComponent({ bookingId, itemId: c.itemId, supplier: c.supplier, description: c.description, attemptKey: key });
        reserved.push(c);
      }
    } catch (err) {
      for (const c of reserved.reverse()) await compensate(() => cancelComponent({ bookingId, itemId: c.itemId, description: c.description, attemptKey: key }), `${key}/item-${c.itemId}/cancel-failed`, `cancel ${c.description}`);
      refuse('AmendRefused', `a supplier cannot follow the change: ${failureMessage(err)}`, ['supplier_refused']);
    }
    return held;
  };

  const amend = async (req: AmendRequest): Promise<AmendResult> => {
    const key = `amend-${++s.amendments}`;
    const rebooked = await rebookComponents(key, req);
    let outcome;
    try {
      outcome = await amendBooking({ bookingId, key, passengers: req.passengers, departureId: req.departureId, actor: req.actor });
    } catch (err) {
      for (const c of [...rebooked].reverse()) await compensate(() => cancelComponent({ bookingId, itemId: c.itemId, description: c.description, attemptKey: key }), `${key}/item-${c.itemId}/cancel-failed`, `cancel ${c.description}`);
      if (failureType(err) === 'AmendRefused') {
        const code = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? (err.cause.details?.[0] as string) : 'refused';
        throw ApplicationFailure.create({ type: 'AmendRefused', message: failureMessage(err), details: [code], nonRetryable: true });
      }
      throw err;
    }
    // The old reservations go once the new ones hold.
    for (const c of rebooked) {
      const previous = s.componentsReservedBy ?? c.reservationKey?.split('/')[1];
      if (previous) await compensate(() => cancelComponent({ bookingId, itemId: c.itemId, description: c.description, attemptKey: previous }), `${key}/item-${c.itemId}/release-failed`, `release ${c.description}`);
    }
    // Paid more than the new price: the difference goes back now (from the ledger: earlier refunds count).
    const refundDue = outcome.refundDueMinor ?? Math.max(0, outcome.amountPaidMinor - outcome.payableMinor);
    if (refundDue > 0) await refundPaid(refundDue, 'booking amended', key);
    s.moveTo(outcome.status);
    if (outcome.moved || outcome.paxCount < booking.paxCount) await offerWaitlist({ departureId: booking.departureId });
    // Dates, seats and amounts may all have changed: a new run picks them up from the record.
    s.restart = true;
    return {
      bookingStatus: outcome.status, departureId: outcome.departureId, paxCount: outcome.paxCount, totalMinor: outcome.totalMinor,
      payableMinor: outcome.payableMinor, amountPaidMinor: fixed ? outcome.amountPaidMinor - refundDue : outcome.amountPaidMinor, refundMinor: refundDue,
    };
  };

  /** Runs queued s.commands and provider signals, one at a time. */
  const work = async () => {
    for (;;) {
      if (s.restart) return; // the next run takes any further work
      const command = s.commands.find((c) => !c.done);
      if (command) {
        try {
          if (command.kind === 'pay') {
            command.result = await pay(command.input);
          } else if (command.kind === 'cancel') command.result = await cancel(command.input);
          else if (command.kind === 'amend') command.result = await amend(command.input);
          else command.result = await decide(command.input);
        } catch (err) {
          command.failure = err instanceof ApplicationFailure ? err : ApplicationFailure.create({ type: 'Internal', message: failureMessage(err), nonRetryable: true });
        }
        command.done = true;
        continue;
      }
      const signal = s.paymentSignals.shift();
      if (signal) {
        if (s.pendingPayment && signal.type === 'payment.returned') {
          // Back from the provider's page (PayPal approval, a redirect): ask where the payment stands.
          const state = await refreshPayment(s.pendingPayment.paymentId);
          if (state.state === 'authorized') await settlePendingPayment('authorized');
          else if (state.state === 'declined' || state.state === 'voided') await settlePendingPayment('declined', state.reason);
        } else if (s.pendingPayment && signal.providerRef === s.pendingPayment.providerRef) {
          if (signal.type === 'payment.authorized') {
            await settlePendingPayment('authorized');
          } else if (signal.type === 'payment.declined' || signal.type === 'payment.canceled') {
            await settlePendingPayment('declined', signal.reason);
          }
        }
        continue;
      }
      return;
    }
  };
  const { waitUntil, remindAt } = bookingCalendar(s, { work, abandonPendingPayment, expireApproval, expireReview });

  // 1. The hold: paid, cancelled, or expired.
  if (s.status === 'held') {
    if (booking.plan === 'on_account') {
      await confirmOnAccount({ bookingId });
      s.moveTo('confirmed');
      await queueMessage({ bookingId, channel: 'email', template: 'booking_confirmation', key: 'confirmation' });
    } else {
      const holdUntil = booking.holdExpiresAt!;
      while (s.status === 'held') {
        const lapsed = await waitUntil('hold_expiry', holdUntil, () => s.status !== 'held');
        if (!lapsed || s.status !== 'held') break;
        if (s.pendingPayment) {
          // The hold lapsed during a customer action: ask the provider once before letting go.
          const state = await refreshPayment(s.pendingPayment.paymentId);
          if (state.state === 'authorized') {
            await settlePendingPayment('authorized');
            continue;
          }
          const p = s.pendingPayment;
          await compensate(() => voidPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey }), `${p.attemptKey}/void-failed`, 'void the pending authorization');
          s.pendingPayment = undefined;
        }
        await close('expired', 'the hold lapsed before payment', 'expired');
        await queueMessage({ bookingId, channel: 'email', template: 'hold_expired', key: 'expired' });
        if (patched('abandoned-booking-automation')) await enrollAbandonedBooking({ bookingId });
      }
    }
  }

  // Confirmed (paid, or on account): automations for confirmed bookings (once per booking, whatever the run).
  if (['confirmed', 'paid_in_full'].includes(s.status) && patched('automation-triggers')) await enrollBookingContact({ bookingId, trigger: 'booking_confirmed' });

  // 2. Balance: reminders before it is due, auto-cancel after (both wait while an approval is pending).
  if (booking.plan === 'deposit' && booking.balanceDueAt) {
    const due = +new Date(booking.balanceDueAt);
    for (const days of booking.rules.balanceReminderDaysBeforeDue) {
      const when = await remindAt('balance_reminder', new Date(due - days * DAY).toISOString());
      if (when === 'ended') break;
      if (when === 'due' && s.status === 'confirmed') {
        for (const channel of ['email', 'whatsapp'] as const) {
          await queueMessage({ bookingId, channel, template: 'balance_reminder', key: `balance-reminder-${days}d`, data: { dueAt: booking.balanceDueAt, leftMinor: booking.payableMinor - s.amountPaidMinor } });
        }
      }
    }
    const autoCancelAt = new Date(due + booking.rules.autoCancelDaysAfterDue * DAY);
    if (await waitUntil('balance_auto_cancel', autoCancelAt.toISOString(), undefined, true)) {
      if (s.status === 'confirmed') {
        const result = await cancel({ reason: 'balance unpaid after the due date', actor: null }, autoCancelAt);
        if (result.outcome === 'pending_approval' && !fixed) await waitUntil('approval', new Date(+clock.now() + booking.rules.approvalTimeoutHours * 3_600_000).toISOString());
      }
    }
  }

  // 3. The trip.
  if ((await remindAt('pre_trip_reminder', new Date(+new Date(booking.departureAt) - booking.rules.preTripReminderDays * DAY).toISOString())) === 'due') {
    for (const channel of ['email', 'whatsapp'] as const) await queueMessage({ bookingId, channel, template: 'pre_trip_reminder', key: 'pre-trip' });
  }
  if (await waitUntil('departure', booking.departureAt)) {
    // An approval still pending when the trip starts can no longer be decided.
    if (fixed && s.pendingApproval) await expireApproval('the trip started before anyone decided', 'reject');
    if (await setStatus({ bookingId, from: ['confirmed', 'paid_in_full'], to: 'in_progress', eventKey: 'in_progress' })) s.moveTo('in_progress');
  }
  if (s.status === 'in_progress' && (await waitUntil('trip_end', booking.departureEndAt))) {
    await setStatus({ bookingId, from: ['in_progress'], to: 'completed', eventKey: 'completed' });
    s.moveTo('completed');
    if (patched('automation-triggers')) await enrollBookingContact({ bookingId, trigger: 'trip_completed' });
    const reviewAt = new Date(+new Date(booking.departureEndAt) + booking.rules.reviewRequestDaysAfter * DAY).toISOString();
    s.nextMilestone = { kind: 'review_request', at: reviewAt };
    // Completed is terminal for steering, so wait on the clock alone.
    await condition(() => false, clock.msUntil(reviewAt)).catch(() => undefined);
    await queueMessage({ bookingId, channel: 'email', template: 'review_request', key: 'review' });
  }
  s.nextMilestone = null;
  // Refuse nothing silently: answer any update that arrived while closing.
  if (!s.restart) await work();
  await condition(allHandlersFinished);
  if (s.restart) {
    for (const c of s.commands.filter((x) => !x.done)) {
      c.failure = ApplicationFailure.create({ type: 'AmendmentInProgress', message: 'the booking was just changed; retry', nonRetryable: true });
      c.done = true;
    }
    await condition(allHandlersFinished);
    return continueAsNew<typeof bookingWorkflow>({ bookingId, carry: { attempts: s.attempts, cancellations: s.cancellations, amendments: s.amendments } });
  }
  return { status: s.status, amountPaidMinor: s.amountPaidMinor };
}
