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
  ApplicationFailure, ActivityFailure, condition, continueAsNew, patched, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo, allHandlersFinished,
} from '@temporalio/workflow';
import type { BookingActivities, BookingSnapshot } from '../activities/booking';
import { refundFor, type RefundDecision } from '../domain/booking-rules';
import {
  BookingStatusAttribute, BranchIdAttribute, CustomerIdAttribute, DepartureDateAttribute, PartnerIdAttribute,
  amendUpdate, cancelUpdate, decideApprovalUpdate, payUpdate, paymentSignal, viewQuery,
  type AmendRequest, type AmendResult, type ApprovalDecision, type ApprovalResult, type BookingCarry, type BookingView, type CancelRequest, type CancelResult,
  type PayRequest, type PayResult, type PaymentSignal,
} from './booking-messages';

const db = proxyActivities<BookingActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});
const providers = proxyActivities<BookingActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});
const suppliers = proxyActivities<BookingActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

const TERMINAL = ['expired', 'failed', 'cancelled', 'completed', 'no_show'];
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
}

/** Converts between the booking's calendar and workflow time (deterministic: workflow clock only). */
class BusinessClock {
  private readonly anchor = Date.now();
  constructor(private readonly scale: number) {}
  now(): Date {
    return new Date(this.anchor + (Date.now() - this.anchor) / this.scale);
  }
  msUntil(at: string | Date): number {
    return Math.max(0, Math.ceil((+new Date(at) - +this.now()) * this.scale));
  }
}

function failureType(err: unknown): string | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
  return undefined;
}
function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

export async function bookingWorkflow(input: { bookingId: string; carry?: BookingCarry }): Promise<{ status: string; amountPaidMinor: number }> {
  const { bookingId } = input;
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
  let pendingApproval: { approvalId: string; refund: RefundDecision; reason: string } | undefined;
  let nextMilestone: { kind: string; at: string } | null = null;
  let cancellations = input.carry?.cancellations ?? 0;

  // --- handlers first -------------------------------------------------------------------
  const enqueue = async <C extends Command>(command: C): Promise<NonNullable<C['result']>> => {
    commands.push(command);
    await condition(() => command.done);
    if (command.failure) throw command.failure;
    return command.result as NonNullable<C['result']>;
  };
  const refuse = (type: string, message: string): never => {
    throw ApplicationFailure.create({ type, message, nonRetryable: true });
  };
  const paymentBusy = () => pendingPayment !== undefined || commands.some((c) => !c.done && c.kind === 'pay');

  setHandler(payUpdate, (req) => enqueue<PayCommand>({ kind: 'pay', input: req, done: false }), {
    validator: (req) => {
      if (!['sandbox', 'stripe', 'paypal'].includes(req.provider)) refuse('InvalidProvider', `unknown payment provider "${req.provider}"`);
      if (!req.paymentMethod) refuse('InvalidPaymentMethod', 'paymentMethod is required');
      if (TERMINAL.includes(status)) refuse('BookingClosed', `the booking is ${status}; it takes no payment`);
      if (status === 'paid_in_full' || status === 'in_progress') refuse('NothingToPay', 'the booking is paid in full');
      if (snap?.plan === 'on_account') refuse('OnAccount', 'this booking is on the partner\'s account; it is settled by statement');
      if (paymentBusy()) refuse('PaymentInProgress', 'a payment for this booking is already in progress; finish or abandon it first');
      if (pendingApproval) refuse('CancellationPending', 'a cancellation of this booking awaits approval');
      if (restart) refuse('AmendmentInProgress', 'the booking is being changed; retry in a moment');
    },
  });
  setHandler(cancelUpdate, (req) => enqueue<CancelCommand>({ kind: 'cancel', input: req, done: false }), {
    validator: (req: CancelRequest) => {
      if (!req.reason) refuse('InvalidReason', 'a reason is required');
      if (TERMINAL.includes(status)) refuse('BookingClosed', `the booking is already ${status}`);
      if (status === 'in_progress') refuse('TripStarted', 'the trip has started; it can no longer be cancelled');
      if (pendingApproval || commands.some((c) => !c.done && c.kind === 'cancel')) refuse('CancellationPending', 'a cancellation of this booking is already pending');
      if (restart) refuse('AmendmentInProgress', 'the booking is being changed; retry in a moment');
    },
  });
  setHandler(decideApprovalUpdate, (req) => enqueue<DecideCommand>({ kind: 'decide', input: req, done: false }), {
    validator: (req) => {
      if (!pendingApproval || pendingApproval.approvalId !== req.approvalId) refuse('ApprovalNotPending', 'this approval is not pending');
      if (commands.some((c) => !c.done && c.kind === 'decide')) refuse('ApprovalNotPending', 'this approval is already being decided');
    },
  });
  setHandler(amendUpdate, (req) => enqueue<AmendCommand>({ kind: 'amend', input: req, done: false }), {
    validator: (req) => {
      if (!req.passengers && !req.departureId) refuse('InvalidAmendment', 'say what changes: passengers, departureId, or both');
      if (!['held', 'confirmed', 'paid_in_full'].includes(status)) refuse('BookingClosed', `a ${status} booking cannot be changed`);
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
  snap = await db.loadBooking(bookingId);
  status = snap.status;
  amountPaidMinor = snap.amountPaidMinor;
  const booking = snap;
  const clock = new BusinessClock(booking.rules.timeScale);
  capturedPayments.push(...(booking.captured ?? []));
  await db.markWorkflowStarted(bookingId);
  const publish = () =>
    upsertSearchAttributes([
      { key: BookingStatusAttribute, value: [status] },
      { key: BranchIdAttribute, value: booking.branchId },
      { key: DepartureDateAttribute, value: new Date(booking.departureAt) },
      ...(booking.customerId ? [{ key: CustomerIdAttribute, value: booking.customerId }] : []),
      ...(booking.partnerId ? [{ key: PartnerIdAttribute, value: booking.partnerId }] : []),
    ]);
  const setStatus = (next: string) => {
    status = next;
    publish();
  };
  publish();

  const close = async (to: 'expired' | 'failed' | 'cancelled', reason: string, eventKey: string, actor?: string) => {
    const { seatsReleased } = await db.closeBooking({ bookingId, to, reason, eventKey, actor });
    setStatus(to);
    // Added after bookings were already running: histories recorded before it replay without it.
    if (seatsReleased > 0 && patched('waitlist-offers')) await db.offerWaitlist({ departureId: booking.departureId });
  };

  /** Suppliers, then capture; on failure, undo in reverse: components, then the authorization. */
  const completePayment = async (p: Omit<PendingPayment, 'actionUrl' | 'providerRef'>): Promise<PayResult> => {
    const confirmed: BookingSnapshot['components'] = [];
    try {
      if (p.purpose !== 'balance') {
        for (const c of booking.components) {
          await suppliers.reserveComponent({ bookingId, itemId: c.itemId, supplier: c.supplier, description: c.description, attemptKey: p.attemptKey });
          confirmed.push(c);
        }
      }
      await providers.capturePayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey });
    } catch (err) {
      const reason = failureMessage(err);
      for (const c of [...confirmed].reverse()) {
        await suppliers.cancelComponent({ bookingId, itemId: c.itemId, description: c.description, attemptKey: p.attemptKey });
      }
      await providers.voidPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey });
      if (p.purpose !== 'balance') await close('failed', reason, `${p.attemptKey}/failed`);
      return { outcome: 'failed', bookingStatus: status, paymentId: p.paymentId, reason, code: failureType(err) };
    }
    const recorded = await db.recordPayment({ bookingId, paymentId: p.paymentId, attemptKey: p.attemptKey });
    capturedPayments.push({ paymentId: p.paymentId, amountMinor: p.amountMinor });
    amountPaidMinor = recorded.amountPaidMinor;
    setStatus(recorded.status);
    if (p.purpose !== 'balance') {
      await db.queueMessage({ bookingId, channel: 'email', template: 'booking_confirmation', key: 'confirmation' });
      await db.queueMessage({ bookingId, channel: 'whatsapp', template: 'booking_confirmation', key: 'confirmation' });
    } else {
      await db.queueMessage({ bookingId, channel: 'email', template: 'payment_receipt', key: `${p.attemptKey}/receipt` });
    }
    return { outcome: 'succeeded', bookingStatus: status, paymentId: p.paymentId, amountMinor: p.amountMinor, purpose: p.purpose };
  };

  const pay = async (req: PayRequest): Promise<PayResult> => {
    if (TERMINAL.includes(status)) refuse('BookingClosed', `the booking is ${status}`);
    const purpose = status === 'held' ? (booking.plan === 'deposit' ? 'deposit' : 'full') : 'balance';
    const amountMinor = purpose === 'deposit' ? booking.depositMinor : booking.payableMinor - amountPaidMinor;
    if (amountMinor <= 0) refuse('NothingToPay', 'nothing is left to pay');
    const attemptKey = `pay-${++attempts}`;
    let auth;
    try {
      auth = await providers.authorizePayment({ bookingId, attemptKey, provider: req.provider, paymentMethod: req.paymentMethod, amountMinor, currency: booking.currency, purpose });
    } catch (err) {
      if (failureType(err) === 'ProviderNotConfigured') refuse('ProviderNotConfigured', failureMessage(err));
      throw err;
    }
    if (auth.status === 'declined') {
      // The saga's first step failed: nothing to undo but the seats.
      if (purpose !== 'balance') await close('failed', `payment declined: ${auth.reason}`, `${attemptKey}/failed`);
      return { outcome: 'declined', bookingStatus: status, paymentId: auth.paymentId, reason: auth.reason, code: auth.code, amountMinor, purpose };
    }
    if (auth.status === 'requires_action') {
      pendingPayment = { attemptKey, paymentId: auth.paymentId, providerRef: auth.providerRef, actionUrl: auth.actionUrl, purpose, amountMinor };
      return { outcome: 'requires_action', bookingStatus: status, paymentId: auth.paymentId, actionUrl: auth.actionUrl, amountMinor, purpose };
    }
    return completePayment({ attemptKey, paymentId: auth.paymentId, purpose, amountMinor });
  };

  /** A signal (webhook, hosted page) says how the customer's action ended. */
  const settlePendingPayment = async (outcome: 'authorized' | 'declined', reason?: string) => {
    const p = pendingPayment!;
    pendingPayment = undefined;
    if (outcome === 'authorized') {
      await completePayment(p);
    } else {
      await db.appendEvent({ bookingId, key: `${p.attemptKey}/declined`, type: 'payment_declined', data: { reason: reason ?? 'authentication failed' } });
      if (p.purpose !== 'balance') await close('failed', `payment declined: ${reason ?? 'authentication failed'}`, `${p.attemptKey}/failed`);
    }
  };

  const refundPaid = async (refundMinor: number, reason: string, key: string) => {
    // Refund the captured payments, newest first, until the refund is covered.
    let left = refundMinor;
    for (const payment of [...capturedPayments].reverse()) {
      if (left <= 0) break;
      const amount = Math.min(left, payment.amountMinor);
      if (amount <= 0) continue;
      await providers.refundPayment({ bookingId, paymentId: payment.paymentId, amountMinor: amount, reason, refundKey: key });
      payment.amountMinor -= amount;
      left -= amount;
    }
  };
  /** `asOf`: the business instant the cancellation counts from (a scheduled auto-cancel uses its own time, not the clock's). */
  const cancel = async (req: CancelRequest, asOf: Date = clock.now()): Promise<CancelResult> => {
    const key = `cancel-${++cancellations}`;
    if (pendingPayment) {
      await providers.voidPayment({ bookingId, paymentId: pendingPayment.paymentId, attemptKey: pendingPayment.attemptKey });
      pendingPayment = undefined;
    }
    const refund = refundFor(booking.rules, amountPaidMinor, booking.currency, new Date(booking.departureAt), asOf);
    if (refund.needsApproval) {
      const approvalId = await db.createApproval({
        bookingId, workflowId: workflowInfo().workflowId, amountMinor: refund.refundMinor, currency: booking.currency,
        reason: `${req.reason} (${refund.approvalReason})`, requestedBy: req.actor, key,
      });
      pendingApproval = { approvalId, refund, reason: req.reason };
      return { outcome: 'pending_approval', bookingStatus: status, refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore, approvalId, approvalReason: refund.approvalReason ?? undefined };
    }
    await refundPaid(refund.refundMinor, req.reason, key);
    await close('cancelled', req.reason, `${key}/cancelled`, req.actor ? `user:${req.actor}` : undefined);
    await db.queueMessage({ bookingId, channel: 'email', template: 'booking_cancellation', key, data: { refundMinor: refund.refundMinor } });
    return { outcome: 'cancelled', bookingStatus: status, refundMinor: refund.refundMinor, refundBp: refund.refundBp, daysBefore: refund.daysBefore };
  };

  const decide = async (d: ApprovalDecision): Promise<ApprovalResult> => {
    const approval = pendingApproval!;
    pendingApproval = undefined;
    await db.recordApprovalDecision({ approvalId: approval.approvalId, bookingId, decision: d.approve ? 'approved' : 'rejected', by: d.by, note: d.note });
    if (!d.approve) return { outcome: 'rejected', bookingStatus: status, refundMinor: 0 };
    const key = `approval-${approval.approvalId}`;
    await refundPaid(approval.refund.refundMinor, approval.reason, key);
    await close('cancelled', approval.reason, `${key}/cancelled`);
    await db.queueMessage({ bookingId, channel: 'email', template: 'booking_cancellation', key, data: { refundMinor: approval.refund.refundMinor } });
    return { outcome: 'cancelled', bookingStatus: status, refundMinor: approval.refund.refundMinor };
  };

  const amend = async (req: AmendRequest): Promise<AmendResult> => {
    const key = `amend-${++amendments}`;
    let outcome;
    try {
      outcome = await db.amendBooking({ bookingId, key, passengers: req.passengers, departureId: req.departureId, actor: req.actor });
    } catch (err) {
      if (failureType(err) === 'AmendRefused') {
        const code = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? (err.cause.details?.[0] as string) : 'refused';
        throw ApplicationFailure.create({ type: 'AmendRefused', message: failureMessage(err), details: [code], nonRetryable: true });
      }
      throw err;
    }
    // Paid more than the new price: the difference goes back now.
    const refundMinor = Math.max(0, outcome.amountPaidMinor - outcome.payableMinor);
    if (refundMinor > 0) await refundPaid(refundMinor, 'booking amended', key);
    setStatus(outcome.status);
    if (outcome.moved || outcome.paxCount < booking.paxCount) await db.offerWaitlist({ departureId: booking.departureId });
    // Dates, seats and amounts may all have changed: a new run picks them up from the record.
    restart = true;
    return {
      bookingStatus: outcome.status, departureId: outcome.departureId, paxCount: outcome.paxCount, totalMinor: outcome.totalMinor,
      payableMinor: outcome.payableMinor, amountPaidMinor: outcome.amountPaidMinor, refundMinor,
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
          const state = await providers.refreshPayment(pendingPayment.paymentId);
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

  /**
   * Waits until `at` on the booking calendar, doing any work that arrives meanwhile.
   * Returns true when the time came, false when the booking ended or `stop` became true first.
   */
  const waitUntil = async (kind: string, at: string, stop: () => boolean = () => false): Promise<boolean> => {
    nextMilestone = { kind, at };
    for (;;) {
      if (TERMINAL.includes(status) || restart || stop()) return false;
      const woke = await condition(hasWork, clock.msUntil(at));
      if (!woke) return !TERMINAL.includes(status) && !restart;
      await work();
    }
  };

  // 1. The hold: paid, cancelled, or expired.
  if (status === 'held') {
    if (booking.plan === 'on_account') {
      await db.confirmOnAccount({ bookingId });
      setStatus('confirmed');
      await db.queueMessage({ bookingId, channel: 'email', template: 'booking_confirmation', key: 'confirmation' });
    } else {
      const holdUntil = booking.holdExpiresAt!;
      while (status === 'held') {
        const lapsed = await waitUntil('hold_expiry', holdUntil, () => status !== 'held');
        if (!lapsed || status !== 'held') break;
        if (pendingPayment) {
          // The hold lapsed during a customer action: ask the provider once before letting go.
          const state = await providers.refreshPayment(pendingPayment.paymentId);
          if (state.state === 'authorized') {
            await settlePendingPayment('authorized');
            continue;
          }
          await providers.voidPayment({ bookingId, paymentId: pendingPayment.paymentId, attemptKey: pendingPayment.attemptKey });
          pendingPayment = undefined;
        }
        await close('expired', 'the hold lapsed before payment', 'expired');
        await db.queueMessage({ bookingId, channel: 'email', template: 'hold_expired', key: 'expired' });
        if (patched('abandoned-booking-automation')) await db.enrollAbandonedBooking({ bookingId });
      }
    }
  }

  // Confirmed (paid, or on account): automations for confirmed bookings (once per booking, whatever the run).
  if (['confirmed', 'paid_in_full'].includes(status) && patched('automation-triggers')) await db.enrollBookingContact({ bookingId, trigger: 'booking_confirmed' });

  // 2. Balance: reminders before it is due, auto-cancel after.
  if (booking.plan === 'deposit' && booking.balanceDueAt) {
    const due = +new Date(booking.balanceDueAt);
    for (const days of booking.rules.balanceReminderDaysBeforeDue) {
      if (!(await waitUntil('balance_reminder', new Date(due - days * DAY).toISOString()))) break;
      if (status === 'confirmed') {
        for (const channel of ['email', 'whatsapp'] as const) {
          await db.queueMessage({ bookingId, channel, template: 'balance_reminder', key: `balance-reminder-${days}d`, data: { dueAt: booking.balanceDueAt, leftMinor: booking.payableMinor - amountPaidMinor } });
        }
      }
    }
    const autoCancelAt = new Date(due + booking.rules.autoCancelDaysAfterDue * DAY);
    if (await waitUntil('balance_auto_cancel', autoCancelAt.toISOString())) {
      if (status === 'confirmed') {
        const result = await cancel({ reason: 'balance unpaid after the due date', actor: null }, autoCancelAt);
        if (result.outcome === 'pending_approval') await waitUntil('approval', new Date(+clock.now() + booking.rules.approvalTimeoutHours * 3_600_000).toISOString());
      }
    }
  }

  // 3. The trip.
  if (await waitUntil('pre_trip_reminder', new Date(+new Date(booking.departureAt) - booking.rules.preTripReminderDays * DAY).toISOString())) {
    for (const channel of ['email', 'whatsapp'] as const) await db.queueMessage({ bookingId, channel, template: 'pre_trip_reminder', key: 'pre-trip' });
  }
  if (await waitUntil('departure', booking.departureAt)) {
    if (await db.setStatus({ bookingId, from: ['confirmed', 'paid_in_full'], to: 'in_progress', eventKey: 'in_progress' })) setStatus('in_progress');
  }
  if (status === 'in_progress' && (await waitUntil('trip_end', booking.departureEndAt))) {
    await db.setStatus({ bookingId, from: ['in_progress'], to: 'completed', eventKey: 'completed' });
    setStatus('completed');
    if (patched('automation-triggers')) await db.enrollBookingContact({ bookingId, trigger: 'trip_completed' });
    const reviewAt = new Date(+new Date(booking.departureEndAt) + booking.rules.reviewRequestDaysAfter * DAY).toISOString();
    nextMilestone = { kind: 'review_request', at: reviewAt };
    // Completed is terminal for steering, so wait on the clock alone.
    await condition(() => false, clock.msUntil(reviewAt)).catch(() => undefined);
    await db.queueMessage({ bookingId, channel: 'email', template: 'review_request', key: 'review' });
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
