/**
 * A booking workflow run's state, in one small class, and the handlers of its messages. The
 * validators read the state only; the handlers only enqueue a command, which the main loop
 * (workflows/booking.ts) runs one at a time.
 */
import { ApplicationFailure, condition, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { BookingSnapshot } from '../../activities/booking';
import type { RefundDecision } from '../../domain/booking-rules';
import { CHANGEABLE_STATUSES, isPaymentProvider, isTerminalStatus } from '../../domain/bookings';
import {
  BookingStatusAttribute, BranchIdAttribute, CustomerIdAttribute, DepartureDateAttribute, PartnerIdAttribute,
  amendUpdate, cancelUpdate, decideApprovalUpdate, payUpdate, paymentSignal, viewQuery,
  type AmendRequest, type AmendResult, type ApprovalDecision, type ApprovalResult, type BookingCarry, type BookingView, type CancelRequest, type CancelResult,
  type PayRequest, type PayResult, type PaymentSignal,
} from '../booking-messages';
import type { BusinessClock } from './clock';

export type PayCommand = { kind: 'pay'; input: PayRequest; done: boolean; result?: PayResult; failure?: ApplicationFailure };
export type CancelCommand = { kind: 'cancel'; input: CancelRequest; done: boolean; result?: CancelResult; failure?: ApplicationFailure };
export type DecideCommand = { kind: 'decide'; input: ApprovalDecision; done: boolean; result?: ApprovalResult; failure?: ApplicationFailure };
export type AmendCommand = { kind: 'amend'; input: AmendRequest; done: boolean; result?: AmendResult; failure?: ApplicationFailure };
export type Command = PayCommand | CancelCommand | DecideCommand | AmendCommand;

export interface PendingPayment {
  attemptKey: string;
  paymentId: string;
  providerRef: string;
  actionUrl: string;
  purpose: 'deposit' | 'balance' | 'full';
  amountMinor: number;
  /** Workflow time (ms) when the customer's action is given up (corrected path only). */
  expiresAtMs?: number;
}

export interface PendingApproval {
  approvalId: string;
  refund: RefundDecision;
  reason: string;
  /** Workflow time (ms) when nobody having decided, the rules' default applies (corrected path only). */
  expiresAtMs?: number;
}

/** A payment FraudGuardian sent to a person: authorized only once approved (corrected path with the fraud check). */
export interface PendingReview {
  approvalId: string;
  attemptKey: string;
  provider: PayRequest['provider'];
  paymentMethod: string;
  purpose: 'deposit' | 'balance' | 'full';
  amountMinor: number;
  /** Workflow time (ms) when nobody having decided, `onTimeout` applies. */
  expiresAtMs: number;
  onTimeout: 'approve' | 'reject';
}

const PURPOSE = { deposit: 'deposit', full: 'full payment', balance: 'balance' } as const;

export const refuse = (type: string, message: string, details?: unknown[]): never => {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details });
};

export class BookingLifecycle {
  status = 'held';
  /** Net paid, as the activities last answered from the ledger. */
  amountPaidMinor = 0;
  attempts: number;
  amendments: number;
  cancellations: number;
  /** Set after an amendment: this run ends and a new one continues with the new dates. */
  restart = false;
  pendingPayment: PendingPayment | undefined;
  pendingApproval: PendingApproval | undefined;
  pendingReview: PendingReview | undefined;
  nextMilestone: { kind: string; at: string } | null = null;
  /** The attempt whose saga reserved the package components in this run (their reservation keys carry it). */
  componentsReservedBy: string | undefined;
  readonly commands: Command[] = [];
  readonly paymentSignals: PaymentSignal[] = [];
  /** Captured payments and what each still holds (the older refund path only). */
  readonly capturedPayments: Array<{ paymentId: string; amountMinor: number }> = [];
  snap: BookingSnapshot | undefined;
  clock: BusinessClock | undefined;

  constructor(readonly bookingId: string, readonly fixed: boolean, carry?: BookingCarry) {
    this.attempts = carry?.attempts ?? 0;
    this.amendments = carry?.amendments ?? 0;
    this.cancellations = carry?.cancellations ?? 0;
  }

  /** The booking as loaded at the start of the run (set before anything but the handlers runs). */
  get booking(): BookingSnapshot {
    return this.snap!;
  }

  loaded(snap: BookingSnapshot, clock: BusinessClock): void {
    this.snap = snap;
    this.clock = clock;
    this.status = snap.status;
    this.amountPaidMinor = snap.amountPaidMinor;
    this.capturedPayments.push(...(snap.captured ?? []));
  }

  async enqueue<C extends Command>(command: C): Promise<NonNullable<C['result']>> {
    this.commands.push(command);
    await condition(() => command.done);
    if (command.failure) throw command.failure;
    return command.result as NonNullable<C['result']>;
  }

  paymentBusy(): boolean {
    return this.pendingPayment !== undefined || this.pendingReview !== undefined || this.commands.some((c) => !c.done && c.kind === 'pay');
  }

  /** What a payment now would be for, and how much: the deposit, the full price, or the balance. */
  due(): { purpose: 'deposit' | 'balance' | 'full'; amountMinor: number } {
    const purpose = this.status === 'held' ? (this.snap?.plan === 'deposit' ? 'deposit' : 'full') : 'balance';
    return { purpose, amountMinor: purpose === 'deposit' ? this.snap!.depositMinor : this.snap!.payableMinor - this.amountPaidMinor };
  }

  tripStarted(): boolean {
    return this.status === 'in_progress' || (this.snap !== undefined && this.clock !== undefined && +this.clock.now() >= +new Date(this.snap.departureAt));
  }

  hasWork(): boolean {
    return this.commands.some((c) => !c.done) || this.paymentSignals.length > 0;
  }

  view(): BookingView {
    const { pendingPayment, pendingApproval, pendingReview } = this;
    return {
      bookingId: this.bookingId, status: this.status, amountPaidMinor: this.amountPaidMinor,
      pendingAction: pendingPayment ? { paymentId: pendingPayment.paymentId, actionUrl: pendingPayment.actionUrl } : null,
      pendingApproval: pendingApproval ? { approvalId: pendingApproval.approvalId, refundMinor: pendingApproval.refund.refundMinor, reason: pendingApproval.reason } : null,
      ...(pendingReview ? { pendingReview: { approvalId: pendingReview.approvalId, amountMinor: pendingReview.amountMinor, purpose: pendingReview.purpose } } : {}),
      nextMilestone: this.nextMilestone,
    };
  }

  /** The booking's status, here and in the search attributes operators list bookings by. */
  publish(): void {
    const booking = this.booking;
    upsertSearchAttributes([
      { key: BookingStatusAttribute, value: [this.status] },
      { key: BranchIdAttribute, value: booking.branchId },
      { key: DepartureDateAttribute, value: new Date(booking.departureAt) },
      ...(booking.customerId ? [{ key: CustomerIdAttribute, value: booking.customerId }] : []),
      ...(booking.partnerId ? [{ key: PartnerIdAttribute, value: booking.partnerId }] : []),
    ]);
  }

  moveTo(next: string): void {
    this.status = next;
    this.publish();
  }
}

/** Registers the updates (validators refuse before anything is recorded), the payment signal and the view query. */
export function registerHandlers(s: BookingLifecycle): void {
  setHandler(payUpdate, (req) => s.enqueue<PayCommand>({ kind: 'pay', input: req, done: false }), {
    validator: (req: PayRequest) => {
      if (!isPaymentProvider(req.provider)) refuse('InvalidProvider', `unknown payment provider "${req.provider}"`);
      if (!req.paymentMethod) refuse('InvalidPaymentMethod', 'paymentMethod is required');
      if (isTerminalStatus(s.status)) refuse('BookingClosed', `the booking is ${s.status}; it takes no payment`);
      if (s.status === 'paid_in_full' || s.status === 'in_progress') refuse('NothingToPay', 'the booking is paid in full');
      if (s.snap?.plan === 'on_account') refuse('OnAccount', 'this booking is on the partner\'s account; it is settled by statement');
      if (s.pendingReview) refuse('PaymentInProgress', 'a payment for this booking awaits a fraud review; it goes ahead or is refused when a person decides');
      if (s.paymentBusy()) refuse('PaymentInProgress', 'a payment for this booking is already in progress; finish or abandon it first');
      if (s.pendingApproval) refuse('CancellationPending', 'a cancellation of this booking awaits approval');
      if (s.restart) refuse('AmendmentInProgress', 'the booking is being changed; retry in a moment');
      // A request that says what it pays is refused when that is no longer what is due (a stale retry).
      if (s.snap && (req.purpose !== undefined || req.amountMinor !== undefined)) {
        const now = s.due();
        if ((req.purpose !== undefined && req.purpose !== now.purpose) || (req.amountMinor !== undefined && req.amountMinor !== now.amountMinor)) {
          refuse('PaymentMismatch', `The ${PURPOSE[now.purpose]} of ${now.amountMinor} is due now, not the ${PURPOSE[req.purpose ?? now.purpose]} of ${req.amountMinor ?? now.amountMinor} (amounts in minor units).`, [now]);
        }
      }
    },
  });
  setHandler(cancelUpdate, (req) => s.enqueue<CancelCommand>({ kind: 'cancel', input: req, done: false }), {
    validator: (req: CancelRequest) => {
      if (!req.reason) refuse('InvalidReason', 'a reason is required');
      if (isTerminalStatus(s.status)) refuse('BookingClosed', `the booking is already ${s.status}`);
      if (s.status === 'in_progress') refuse('TripStarted', 'the trip has started; it can no longer be cancelled');
      if (s.pendingApproval || s.commands.some((c) => !c.done && c.kind === 'cancel')) refuse('CancellationPending', 'a cancellation of this booking is already pending');
      if (s.restart) refuse('AmendmentInProgress', 'the booking is being changed; retry in a moment');
    },
  });
  setHandler(decideApprovalUpdate, (req) => s.enqueue<DecideCommand>({ kind: 'decide', input: req, done: false }), {
    validator: (req) => {
      if (s.pendingApproval?.approvalId !== req.approvalId && s.pendingReview?.approvalId !== req.approvalId) refuse('ApprovalNotPending', 'this approval is not pending');
      if (s.commands.some((c) => !c.done && c.kind === 'decide')) refuse('ApprovalNotPending', 'this approval is already being decided');
      if (s.fixed && s.tripStarted()) refuse('TripStarted', 'the trip has started; this approval can no longer be decided');
    },
  });
  setHandler(amendUpdate, (req) => s.enqueue<AmendCommand>({ kind: 'amend', input: req, done: false }), {
    validator: (req) => {
      if (!req.passengers && !req.departureId) refuse('InvalidAmendment', 'say what changes: passengers, departureId, or both');
      if (!(CHANGEABLE_STATUSES as readonly string[]).includes(s.status)) refuse('BookingClosed', `a ${s.status} booking cannot be changed`);
      if (s.paymentBusy()) refuse('PaymentInProgress', 'a payment for this booking is in progress; change it afterwards');
      if (s.pendingApproval) refuse('CancellationPending', 'a cancellation of this booking awaits approval');
      if (s.restart || s.commands.some((c) => !c.done && c.kind === 'amend')) refuse('AmendmentInProgress', 'another change of this booking is being applied');
    },
  });
  setHandler(paymentSignal, (signal) => {
    s.paymentSignals.push(signal);
  });
  setHandler(viewQuery, (): BookingView => s.view());
}
