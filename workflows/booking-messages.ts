/**
 * The booking workflow's messages, shared by the workflow and its callers (API, tests).
 * Updates carry validators in the workflow: a refused change is refused before it is recorded.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

import type { PaxType, PaymentProviderName } from '../domain/bookings';

export type ProviderName = PaymentProviderName;

export function bookingWorkflowId(bookingId: string): string {
  return `booking-${bookingId}`;
}

export interface PayRequest {
  provider: ProviderName;
  paymentMethod: string;
  actor: string | null;
  /** What the payer means to pay; when given and no longer what is due (a stale retry), the payment is refused. */
  purpose?: 'deposit' | 'balance' | 'full';
  amountMinor?: number;
  /** The payer's address as the API saw it (FraudGuardian's velocity and country signals); absent from older requests. */
  clientIp?: string | null;
}

export interface PayResult {
  /** review: FraudGuardian put the payment in the approvals inbox (the hold is kept); refused: suspected fraud, nothing authorized. */
  outcome: 'succeeded' | 'requires_action' | 'declined' | 'failed' | 'review' | 'refused';
  bookingStatus: string;
  paymentId?: string;
  actionUrl?: string;
  reason?: string;
  code?: string;
  amountMinor?: number;
  purpose?: 'deposit' | 'balance' | 'full';
  /** FraudGuardian's verdict (review, refused): the score (null when the check could not run), its signals and the review's approval. */
  fraud?: { score: number | null; signals: Array<{ name: string; points: number; detail: string }>; approvalId?: string | null; expiresAt?: string | null };
}

export interface CancelRequest {
  reason: string;
  actor: string | null;
  /**
   * The operator cancelled the whole departure (RiskManager, after approval): everything paid is
   * refunded, whatever the customer cancellation policy, with no further approval.
   */
  departureCancelled?: boolean;
}

export interface CancelResult {
  outcome: 'cancelled' | 'pending_approval';
  bookingStatus: string;
  refundMinor: number;
  refundBp: number;
  daysBefore: number;
  approvalId?: string;
  approvalReason?: string;
}

export interface ApprovalDecision {
  approvalId: string;
  approve: boolean;
  by: string;
  note?: string;
}

export interface ApprovalResult {
  /** A refund: cancelled or rejected. A payment review: the payment's outcome once approved (succeeded, requires_action, declined, failed) or rejected. */
  outcome: 'cancelled' | 'rejected' | PayResult['outcome'];
  bookingStatus: string;
  refundMinor: number;
  /** A payment review approved: what the payment did. */
  payment?: PayResult;
}

/** A verified provider event (webhook, hosted page) about one of this booking's payments. */
export interface PaymentSignal {
  /** Which payment; omitted for 'payment.returned' (the customer came back: ask the provider about the pending one). */
  providerRef: string;
  type: 'payment.authorized' | 'payment.declined' | 'payment.captured' | 'payment.refunded' | 'payment.canceled' | 'payment.returned';
  reason?: string;
}

export interface AmendRequest {
  passengers?: Array<{ type: PaxType; firstName: string; lastName: string; birthDate?: string }>;
  departureId?: string;
  actor: string | null;
}

export interface AmendResult {
  /** amountPaidMinor: net paid after the amendment's own refund. */
  bookingStatus: string;
  departureId: string;
  paxCount: number;
  totalMinor: number;
  payableMinor: number;
  amountPaidMinor: number;
  refundMinor: number;
}

/** What a run hands to the next when it continues as new (after an amendment). */
export interface BookingCarry {
  attempts: number;
  cancellations: number;
  amendments: number;
}

export interface BookingView {
  bookingId: string;
  status: string;
  amountPaidMinor: number;
  pendingAction: { paymentId: string; actionUrl: string } | null;
  pendingApproval: { approvalId: string; refundMinor: number; reason: string } | null;
  /** A payment waiting for FraudGuardian's review (absent from older runs' answers). */
  pendingReview?: { approvalId: string; amountMinor: number; purpose: 'deposit' | 'balance' | 'full' } | null;
  nextMilestone: { kind: string; at: string } | null;
}

export const payUpdate = defineUpdate<PayResult, [PayRequest]>('pay');
export const cancelUpdate = defineUpdate<CancelResult, [CancelRequest]>('cancel');
export const decideApprovalUpdate = defineUpdate<ApprovalResult, [ApprovalDecision]>('decideApproval');
export const amendUpdate = defineUpdate<AmendResult, [AmendRequest]>('amend');
export const paymentSignal = defineSignal<[PaymentSignal]>('payment');
export const viewQuery = defineQuery<BookingView>('view');

export const BookingStatusAttribute = defineSearchAttributeKey('BookingStatus', SearchAttributeType.KEYWORD_LIST);
export const DepartureDateAttribute = defineSearchAttributeKey('DepartureDate', SearchAttributeType.DATETIME);
export const CustomerIdAttribute = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const PartnerIdAttribute = defineSearchAttributeKey('PartnerId', SearchAttributeType.KEYWORD);
export const BranchIdAttribute = defineSearchAttributeKey('BranchId', SearchAttributeType.KEYWORD);
