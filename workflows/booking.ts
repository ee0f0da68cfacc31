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
 */
import {
  ApplicationFailure, ActivityFailure, condition, continueAsNew, patched, setHandler, upsertSearchAttributes, workflowInfo, allHandlersFinished,
} from '@temporalio/workflow';
import type { BookingSnapshot, RefundOutcome } from '../activities/booking';
import { refundFor, type RefundDecision } from '../domain/booking-rules';
import { CHANGEABLE_STATUSES, isPaymentProvider, isTerminalStatus } from '../domain/bookings';
import {
  BookingStatusAttribute, BranchIdAttribute, CustomerIdAttribute, DepartureDateAttribute, PartnerIdAttribute,
  amendUpdate, cancelUpdate, decideApprovalUpdate, payUpdate, paymentSignal, viewQuery,
  type AmendRequest, type AmendResult, type ApprovalDecision, type ApprovalResult, type BookingCarry, type BookingView, type CancelRequest, type CancelResult,
  type PayRequest, type PayResult, type PaymentSignal,
} from './booking-messages';
import {
  amendBooking, appendEvent, authorizePayment, bookingLedger, cancelComponent, capturePayment, closeBooking, confirmOnAccount, createApproval,
  enrollAbandonedBooking, enrollBookingContact, loadBooking, markWorkflowStarted, offerWaitlist, queueMessage, recordApprovalDecision, recordPayment,
  refreshPayment, refundBooking, refundPayment, requestManualRefund, reserveComponent, setStatus, voidPayment,
} from './booking/activities';
import { BusinessClock, failureMessage, failureType } from './booking/clock';

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

const DAY = 86_400_000;

type PayCommand = { kind: 'pay'; input: PayRequest; done: boolean; result?: PayResult; failure?: ApplicationFailure };
type CancelCommand = { kind: 'cancel'; input: CancelRequest; done: boolean; result?: CancelResult; failure?: ApplicationFailure };
type DecideCommand = { kind: 'decide'; input: ApprovalDecision; done: boolean; result?: ApprovalResult; failure?: ApplicationFailure };
type AmendCommand = { kind: 'amend'; input: AmendRequest; done: boolean; result?: AmendResult; failure?: ApplicationFailure };
type Command = PayCommand | CancelCommand | DecideCommand | AmendCommand;

interface PendingPayment {
  attemptKey: string;
  paymentId: string;
  providerRef: string;
  actionUrl: string;
  purpose: 'deposit' | 'balance' | 'full';
  amountMinor: number;
  /** Workflow time (ms) when the customer's action is given up (corrected path only). */
  expiresAtMs?: number;
}

interface PendingApproval {
  approvalId: string;
  refund: RefundDecision;
  reason: string;
  /** Workflow time (ms) when nobody having decided, the rules' default applies (corrected path only). */
  expiresAtMs?: number;
}

export async function bookingWorkflow(input: { bookingId: string; carry?: BookingCarry }): Promise<{ status: string; amountPaidMinor: number }> {
  const { bookingId } = input;
  const fixed = patched(CORRECTNESS_PATCH);
  const commands: Command[] = [];
  const paymentSignals: PaymentSignal[] = [];
  let snap: BookingSnapshot | undefined;
  let status = 'held';
  let amountPaidMinor = 0;
  let attempts = input.carry?.attempts ?? 0;
  let amendments = input.carry?.amendments ?? 0;
  /** Set after an amendment: this run ends and a new one continues with the new dates. */
  let restart = false;
  let pendingPayment: PendingPayment | undefined;
  const capturedPayments: Array<{ paymentId: string; amountMinor: number }> = [];
  let pendingApproval: PendingApproval | undefined;
  let nextMilestone: { kind: string; at: string } | null = null;
  let cancellations = input.carry?.cancellations ?? 0;
  /** The attempt whose saga reserved the package components in this run (their reservation keys carry it). */
  let componentsReservedBy: string | undefined;

  // --- handlers first -------------------------------------------------------------------
  const enqueue = async <C extends Command>(command: C): Promise<NonNullable<C['result']>> => {
    commands.push(command);
    await condition(() => command.done);
    if (command.failure) throw command.failure;
    return command.result as NonNullable<C['result']>;
  };
  const refuse = (type: string, message: string, details?: unknown[]): never => {
    throw ApplicationFailure.create({ type, message, nonRetryable: true, details });
  };
  const paymentBusy = () => pendingPayment !== undefined || commands.some((c) => !c.done && c.kind === 'pay');
  /** What a payment now would be for, and how much: the deposit, the full price, or the balance. */
  const due = (): { purpose: 'deposit' | 'balance' | 'full'; amountMinor: number } => {
    const purpose = status === 'held' ? (snap?.plan === 'deposit' ? 'deposit' : 'full') : 'balance';
    return { purpose, amountMinor: purpose === 'deposit' ? snap!.depositMinor : snap!.payableMinor - amountPaidMinor };
  };
  let clockRef: BusinessClock | undefined; // set once the booking is loaded
  const tripStarted = () => status === 'in_progress' || (snap !== undefined && clockRef !== undefined && +clockRef.now() >= +new Date(snap.departureAt));

  setHandler(payUpdate, (req) => enqueue<PayCommand>({ kind: 'pay', input: req, done: false }), {
    validator: (req) => {
      if (!isPaymentProvider(req.provider)) refuse('InvalidProvider', `unknown payment provider "${req.provider}"`);
      if (!req.paymentMethod) refuse('InvalidPaymentMethod', 'paymentMethod is required');
      if (isTerminalStatus(status)) refuse('BookingClosed', `the booking is ${status}; it takes no payment`);
      if (status === 'paid_in_full' || status === 'in_progress') refuse('NothingToPay', 'the booking is paid in full');
      if (snap?.plan === 'on_account') refuse('OnAccount', 'this booking is on the partner\'s account; it is settled by statement');
      if (paymentBusy()) refuse('PaymentInProgress', 'a payment for this booking is already in progress; finish or abandon it first');
      if (pendingApproval) refuse('CancellationPending', 'a cancellation of this booking awaits approval');
      if (restart) refuse('AmendmentInProgress', 'the booking is being changed; retry in a moment');
      // A request that says what it pays is refused when that is no longer what is due (a stale retry).
      if (snap && (req.purpose !== undefined || req.amountMinor !== undefined)) {
        const now = due();
        if ((req.purpose !== undefined && req.purpose !== now.purpose) || (req.amountMinor !== undefined && req.amountMinor !== now.amountMinor)) {
          refuse('PaymentMismatch', `what is due now is the ${now.purpose} of ${now.amountMinor} (minor units), not ${req.purpose ?? now.purpose} of ${req.amountMinor ?? now.amountMinor}`, [now]);
        }
      }
    },
  });
  setHandler(cancelUpdate, (req) => enqueue<CancelCommand>({ kind: 'cancel', input: req, done: false }), {
    validator: (req: CancelRequest) => {
      if (!req.reason) refuse('InvalidReason', 'a reason is required');
      if (isTerminalStatus(status)) refuse('BookingClosed', `the booking is already ${status}`);
      if (status === 'in_progress') refuse('TripStarted', 'the trip has started; it can no longer be cancelled');
      if (pendingApproval || commands.some((c) => !c.done && c.kind === 'cancel')) refuse('CancellationPending', 'a cancellation of this booking is already pending');
      if (restart) refuse('AmendmentInProgress', 'the booking is being changed; retry in a moment');
    },
  });
  setHandler(decideApprovalUpdate, (req) => enqueue<DecideCommand>({ kind: 'decide', input: req, done: false }), {
    validator: (req) => {
      if (!pendingApproval || pendingApproval.approvalId !== req.approvalId) refuse('ApprovalNotPending', 'this approval is not pending');
      if (commands.some((c) => !c.done && c.kind === 'decide')) refuse('ApprovalNotPending', 'this approval is already being decided');
      if (fixed && tripStarted()) refuse('TripStarted', 'the trip has started; this approval can no longer be decided');
    },
  });
  setHandler(amendUpdate, (req) => enqueue<AmendCommand>({ kind: 'amend', input: req, done: false }), {
    validator: (req) => {
      if (!req.passengers && !req.departureId) refuse('InvalidAmendment', 'say what changes: passengers, departureId, or both');
      if (!(CHANGEABLE_STATUSES as readonly string[]).includes(status)) refuse('BookingClosed', `a ${status} booking cannot be changed`);
      if (paymentBusy()) refuse('PaymentInProgress', 'a payment for this booking is in progress; change it afterwards');
      if (pendingApproval) refuse('CancellationPending', 'a cancellation of this booking awaits approval');
      if (restart || commands.some((c) => !c.done && c.kind === 'amend')) refuse('AmendmentInProgress', 'another change of this booking is being applied');
    },
  });
  setHandler(paymentSignal, (signal) => {
    paymentSignals.push(signal);
  });
  setHandler(viewQuery, (): BookingView => ({
    bookingId, status, amountPaidMinor,
    pendingAction: pendingPayment ? { paymentId: pendingPayment.paymentId, actionUrl: pendingPayment.actionUrl } : null,
    pendingApproval: pendingApproval ? { approvalId: pendingApproval.approvalId, refundMinor: pendingApproval.refund.refundMinor, reason: pendingApproval.reason } : null,
    nextMilestone,
  }));

  // --- the story ---------------------------------------------------------------------------
  snap = await loadBooking(bookingId);
  status = snap.status;
  amountPaidMinor = snap.amountPaidMinor;
  const booking = snap;
  const clock = new BusinessClock(booking.rules.timeScale);
  clockRef = clock;
  capturedPayments.push(...(booking.captured ?? []));
  await markWorkflowStarted(bookingId);
  const publish = () =>
    upsertSearchAttributes([
      { key: BookingStatusAttribute, value: [status] },
      { key: BranchIdAttribute, value: booking.branchId },
      { key: DepartureDateAttribute, value: new Date(booking.departureAt) },
      ...(booking.customerId ? [{ key: CustomerIdAttribute, value: booking.customerId }] : []),
      ...(booking.partnerId ? [{ key: PartnerIdAttribute, value: booking.partnerId }] : []),
    ]);
  const moveTo = (next: string) => {
    status = next;
    publish();
  };
  publish();

  const close = async (to: 'expired' | 'failed' | 'cancelled', reason: string, eventKey: string, actor?: string) => {
    const { seatsReleased } = await closeBooking({ bookingId, to, reason, eventKey, actor });
    moveTo(to);
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
      return { outcome: 'failed', bookingStatus: status, paymentId: p.paymentId, reason, code: failureType(err) };
    }
    const recorded = await recordPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey });
    if (p.purpose !== 'balance' && booking.components.length) componentsReservedBy = p.attemptKey;
    capturedPayments.push({ paymentId: p.paymentId, amountMinor: p.amountMinor });
    amountPaidMinor = recorded.amountPaidMinor;
    moveTo(recorded.status);
    if (p.purpose !== 'balance') {
      await queueMessage({ bookingId, channel: 'email', template: 'booking_confirmation', key: 'confirmation' });
      await queueMessage({ bookingId, channel: 'whatsapp', template: 'booking_confirmation', key: 'confirmation' });
    } else {
      await queueMessage({ bookingId, channel: 'email', template: 'payment_receipt', key: `${p.attemptKey}/receipt` });
    }
    return { outcome: 'succeeded', bookingStatus: status, paymentId: p.paymentId, amountMinor: p.amountMinor, purpose: p.purpose };
  };

  const pay = async (req: PayRequest): Promise<PayResult> => {
    if (isTerminalStatus(status)) refuse('BookingClosed', `the booking is ${status}`);
    const { purpose, amountMinor } = due();
    if (amountMinor <= 0) refuse('NothingToPay', 'nothing is left to pay');
    const attemptKey = `pay-${++attempts}`;
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
      return { outcome: 'declined', bookingStatus: status, paymentId: auth.paymentId, reason: auth.reason, code: auth.code, amountMinor, purpose };
    }
    if (auth.status === 'requires_action') {
      pendingPayment = {
        attemptKey, paymentId: auth.paymentId, providerRef: auth.providerRef, actionUrl: auth.actionUrl, purpose, amountMinor,
        expiresAtMs: fixed ? Date.now() + clock.scaled(booking.rules.paymentActionTimeoutMinutes * 60_000) : undefined,
      };
      return { outcome: 'requires_action', bookingStatus: status, paymentId: auth.paymentId, actionUrl: auth.actionUrl, amountMinor, purpose };
    }
    return completePayment({ attemptKey, paymentId: auth.paymentId, purpose, amountMinor });
  };

  /** A signal (webhook, hosted page) or a deadline says how the customer's action ended. */
  const settlePendingPayment = async (outcome: 'authorized' | 'declined', reason?: string) => {
    const p = pendingPayment!;
    pendingPayment = undefined;
    if (outcome === 'authorized') {
      await completePayment(p);
    } else {
      await appendEvent({ bookingId, key: `${p.attemptKey}/declined`, type: 'payment_declined', data: { reason: reason ?? 'authentication failed' } });
      if (p.purpose !== 'balance' && !fixed) await close('failed', `payment declined: ${reason ?? 'authentication failed'}`, `${p.attemptKey}/failed`);
    }
  };

  /** The customer never finished the action: ask the provider once, then let the attempt go (the hold, if any, keeps its own expiry). */
  const abandonPendingPayment = async () => {
    const p = pendingPayment!;
    const state = await refreshPayment(p.paymentId);
    if (state.state === 'authorized') return settlePendingPayment('authorized');
    pendingPayment = undefined;
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
      for (const payment of [...capturedPayments].reverse()) {
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
  const paidNow = async (): Promise<number> => (fixed ? (await bookingLedger({ bookingId })).netPaidMinor : amountPaidMinor);

  /** `asOf`: the business instant the cancellation counts from (a scheduled auto-cancel uses its own time, not the clock's). */
  const cancel = async (req: CancelRequest, asOf: Date = clock.now()): Promise<CancelResult> => {
    const key = `cancel-${++cancellations}`;
    if (pendingPayment) {
      const p = pendingPayment;
      await compensate(() => voidPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey }), `${p.attemptKey}/void-failed`, 'void the pending authorization');
      pendingPayment = undefined;
    }
    const refund = refundFor(booking.rules, await paidNow(), booking.currency, new Date(booking.departureAt), asOf);
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
      pendingApproval = { approvalId, refund, reason: req.reason, expiresAtMs: fixed ? Date.now() + timeoutMs : undefined };
      return { outcome: 'pending_approval', bookingStatus: status, refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore, approvalId, approvalReason: refund.approvalReason ?? undefined };
    }
    await refundPaid(refund.refundMinor, req.reason, key);
    await close('cancelled', req.reason, `${key}/cancelled`, req.actor ? `user:${req.actor}` : undefined);
    await queueMessage({ bookingId, channel: 'email', template: 'booking_cancellation', key, data: { refundMinor: refund.refundMinor } });
    return { outcome: 'cancelled', bookingStatus: status, refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore };
  };

  const decide = async (d: ApprovalDecision | { approve: boolean; by: null; note: string; expired: true }): Promise<ApprovalResult> => {
    const approval = pendingApproval!;
    pendingApproval = undefined;
    const expired = 'expired' in d;
    await recordApprovalDecision({ approvalId: approval.approvalId, bookingId, decision: expired ? 'expired' : d.approve ? 'approved' : 'rejected', by: d.by, note: d.note });
    if (!d.approve) return { outcome: 'rejected', bookingStatus: status, refundMinor: 0 };
    const key = `approval-${approval.approvalId}`;
    await refundPaid(approval.refund.refundMinor, approval.reason, key);
    await close('cancelled', approval.reason, `${key}/cancelled`);
    await queueMessage({ bookingId, channel: 'email', template: 'booking_cancellation', key, data: { refundMinor: approval.refund.refundMinor } });
    return { outcome: 'cancelled', bookingStatus: status, refundMinor: approval.refund.refundMinor };
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
    if (!fixed || status === 'held' || !(resized || moved)) return [];
    // Reserved either before this run (the snapshot says so) or by this run's own saga.
    const held = booking.components.filter((c) => c.status === 'confirmed' || componentsReservedBy !== undefined);
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
    const key = `amend-${++amendments}`;
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
      const previous = componentsReservedBy ?? c.reservationKey?.split('/')[1];
      if (previous) await compensate(() => cancelComponent({ bookingId, itemId: c.itemId, description: c.description, attemptKey: previous }), `${key}/item-${c.itemId}/release-failed`, `release ${c.description}`);
    }
    // Paid more than the new price: the difference goes back now (from the ledger: earlier refunds count).
    const refundDue = outcome.refundDueMinor ?? Math.max(0, outcome.amountPaidMinor - outcome.payableMinor);
    if (refundDue > 0) await refundPaid(refundDue, 'booking amended', key);
    moveTo(outcome.status);
    if (outcome.moved || outcome.paxCount < booking.paxCount) await offerWaitlist({ departureId: booking.departureId });
    // Dates, seats and amounts may all have changed: a new run picks them up from the record.
    restart = true;
    return {
      bookingStatus: outcome.status, departureId: outcome.departureId, paxCount: outcome.paxCount, totalMinor: outcome.totalMinor,
      payableMinor: outcome.payableMinor, amountPaidMinor: fixed ? outcome.amountPaidMinor - refundDue : outcome.amountPaidMinor, refundMinor: refundDue,
    };
  };

  /** Runs queued commands and provider signals, one at a time. */
  const work = async () => {
    for (;;) {
      if (restart) return; // the next run takes any further work
      const command = commands.find((c) => !c.done);
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
      const signal = paymentSignals.shift();
      if (signal) {
        if (pendingPayment && signal.type === 'payment.returned') {
          // Back from the provider's page (PayPal approval, a redirect): ask where the payment stands.
          const state = await refreshPayment(pendingPayment.paymentId);
          if (state.state === 'authorized') await settlePendingPayment('authorized');
          else if (state.state === 'declined' || state.state === 'voided') await settlePendingPayment('declined', state.reason);
        } else if (pendingPayment && signal.providerRef === pendingPayment.providerRef) {
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
  const hasWork = () => commands.some((c) => !c.done) || paymentSignals.length > 0;

  /** Deadlines that run beside the calendar (corrected path): a customer action, an approval (its own deadline, or the departure). */
  const nextSideDeadline = (): number | undefined => {
    const at = [pendingPayment?.expiresAtMs, pendingApproval?.expiresAtMs].filter((x): x is number => x !== undefined);
    if (pendingApproval) at.push(Date.now() + clock.msUntil(booking.departureAt));
    return at.length ? Math.min(...at) : undefined;
  };
  const runSideDeadlines = async () => {
    if (pendingPayment?.expiresAtMs !== undefined && Date.now() >= pendingPayment.expiresAtMs) await abandonPendingPayment();
    if (pendingApproval && clock.msUntil(booking.departureAt) === 0) await expireApproval('the trip started before anyone decided', 'reject');
    if (pendingApproval?.expiresAtMs !== undefined && Date.now() >= pendingApproval.expiresAtMs) await expireApproval(`nobody decided within ${booking.rules.approvalTimeoutHours} hours`);
  };

  /**
   * Waits until `at` on the booking calendar, doing any work that arrives meanwhile.
   * Returns true when the time came, false when the booking ended or `stop` became true first.
   * `pausedByApproval`: when the time comes while an approval is pending, wait for the decision
   * (or its deadline) first (corrected path).
   */
  const waitUntil = async (kind: string, at: string, stop: () => boolean = () => false, pausedByApproval = false): Promise<boolean> => {
    nextMilestone = { kind, at };
    for (;;) {
      if (isTerminalStatus(status) || restart || stop()) return false;
      const side = fixed ? nextSideDeadline() : undefined;
      const untilMilestone = clock.msUntil(at);
      const paused = fixed && pausedByApproval && pendingApproval !== undefined && untilMilestone === 0;
      const timeout = side === undefined ? (paused ? undefined : untilMilestone) : Math.max(0, paused ? side - Date.now() : Math.min(untilMilestone, side - Date.now()));
      const woke = timeout === undefined ? (await condition(() => hasWork() || pendingApproval === undefined), true) : await condition(hasWork, timeout);
      if (woke) {
        await work();
        continue;
      }
      if (fixed) await runSideDeadlines();
      if (isTerminalStatus(status) || restart) return false;
      if (clock.msUntil(at) > 0) continue;
      if (fixed && pausedByApproval && pendingApproval) continue;
      return true;
    }
  };

  /** Corrected path: a reminder whose moment had already passed when the booking reached it is skipped, not sent late. */
  const remindAt = async (kind: string, at: string): Promise<'due' | 'late' | 'ended'> => {
    const late = fixed && clock.msUntil(at) === 0;
    if (!(await waitUntil(kind, at, undefined, true))) return 'ended';
    return late ? 'late' : 'due';
  };

  // 1. The hold: paid, cancelled, or expired.
  if (status === 'held') {
    if (booking.plan === 'on_account') {
      await confirmOnAccount({ bookingId });
      moveTo('confirmed');
      await queueMessage({ bookingId, channel: 'email', template: 'booking_confirmation', key: 'confirmation' });
    } else {
      const holdUntil = booking.holdExpiresAt!;
      while (status === 'held') {
        const lapsed = await waitUntil('hold_expiry', holdUntil, () => status !== 'held');
        if (!lapsed || status !== 'held') break;
        if (pendingPayment) {
          // The hold lapsed during a customer action: ask the provider once before letting go.
          const state = await refreshPayment(pendingPayment.paymentId);
          if (state.state === 'authorized') {
            await settlePendingPayment('authorized');
            continue;
          }
          const p = pendingPayment;
          await compensate(() => voidPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey }), `${p.attemptKey}/void-failed`, 'void the pending authorization');
          pendingPayment = undefined;
        }
        await close('expired', 'the hold lapsed before payment', 'expired');
        await queueMessage({ bookingId, channel: 'email', template: 'hold_expired', key: 'expired' });
        if (patched('abandoned-booking-automation')) await enrollAbandonedBooking({ bookingId });
      }
    }
  }

  // Confirmed (paid, or on account): automations for confirmed bookings (once per booking, whatever the run).
  if (['confirmed', 'paid_in_full'].includes(status) && patched('automation-triggers')) await enrollBookingContact({ bookingId, trigger: 'booking_confirmed' });

  // 2. Balance: reminders before it is due, auto-cancel after (both wait while an approval is pending).
  if (booking.plan === 'deposit' && booking.balanceDueAt) {
    const due = +new Date(booking.balanceDueAt);
    for (const days of booking.rules.balanceReminderDaysBeforeDue) {
      const when = await remindAt('balance_reminder', new Date(due - days * DAY).toISOString());
      if (when === 'ended') break;
      if (when === 'due' && status === 'confirmed') {
        for (const channel of ['email', 'whatsapp'] as const) {
          await queueMessage({ bookingId, channel, template: 'balance_reminder', key: `balance-reminder-${days}d`, data: { dueAt: booking.balanceDueAt, leftMinor: booking.payableMinor - amountPaidMinor } });
        }
      }
    }
    const autoCancelAt = new Date(due + booking.rules.autoCancelDaysAfterDue * DAY);
    if (await waitUntil('balance_auto_cancel', autoCancelAt.toISOString(), undefined, true)) {
      if (status === 'confirmed') {
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
    if (fixed && pendingApproval) await expireApproval('the trip started before anyone decided', 'reject');
    if (await setStatus({ bookingId, from: ['confirmed', 'paid_in_full'], to: 'in_progress', eventKey: 'in_progress' })) moveTo('in_progress');
  }
  if (status === 'in_progress' && (await waitUntil('trip_end', booking.departureEndAt))) {
    await setStatus({ bookingId, from: ['in_progress'], to: 'completed', eventKey: 'completed' });
    moveTo('completed');
    if (patched('automation-triggers')) await enrollBookingContact({ bookingId, trigger: 'trip_completed' });
    const reviewAt = new Date(+new Date(booking.departureEndAt) + booking.rules.reviewRequestDaysAfter * DAY).toISOString();
    nextMilestone = { kind: 'review_request', at: reviewAt };
    // Completed is terminal for steering, so wait on the clock alone.
    await condition(() => false, clock.msUntil(reviewAt)).catch(() => undefined);
    await queueMessage({ bookingId, channel: 'email', template: 'review_request', key: 'review' });
  }
  nextMilestone = null;
  // Refuse nothing silently: answer any update that arrived while closing.
  if (!restart) await work();
  await condition(allHandlersFinished);
  if (restart) {
    for (const c of commands.filter((x) => !x.done)) {
      c.failure = ApplicationFailure.create({ type: 'AmendmentInProgress', message: 'the booking was just changed; retry', nonRetryable: true });
      c.done = true;
    }
    await condition(allHandlersFinished);
    return continueAsNew<typeof bookingWorkflow>({ bookingId, carry: { attempts, cancellations, amendments } });
  }
  return { status, amountPaidMinor };
}
