/**
 * One interface for every payment provider (sandbox, Stripe, PayPal, ...). Activities call
 * these; every call carries an idempotency key derived from the workflow, so a retried
 * activity never charges twice. Amounts are integer minor units.
 */
import type { PaymentProviderName } from '../../domain/bookings';

export type ProviderName = PaymentProviderName;

export interface AuthorizeRequest {
  /** Stable per payment attempt, e.g. `booking-<id>/pay-1/authorize`. */
  idempotencyKey: string;
  amountMinor: number;
  currency: string;
  /** Provider-specific payment method token, e.g. Stripe's `pm_card_visa`. */
  paymentMethod: string;
  /** Our booking id and reference, stored as provider metadata so webhooks find their booking. */
  bookingId: string;
  bookingReference: string;
  description: string;
  /** Where the hosted page sends the customer back after an action (3-D Secure, PayPal approval). */
  returnUrl: string;
}

export type AuthorizeResult =
  | { status: 'authorized'; providerRef: string }
  | { status: 'requires_action'; providerRef: string; actionUrl: string }
  | { status: 'declined'; providerRef: string | null; reason: string; code: string };

export interface CaptureRequest { idempotencyKey: string; providerRef: string; amountMinor: number; currency: string }
export interface CaptureResult { status: 'captured'; providerRef: string }

export interface VoidRequest { idempotencyKey: string; providerRef: string }

export interface RefundRequest { idempotencyKey: string; providerRef: string; amountMinor: number; currency: string; reason: string }
export interface RefundResult { status: 'succeeded' | 'pending' | 'failed'; refundRef: string }

/** Where an authorization stands now (after a customer action, or when a webhook was missed). */
export type PaymentState = 'requires_action' | 'authorized' | 'captured' | 'declined' | 'voided' | 'unknown';

export interface PaymentProvider {
  readonly name: ProviderName;
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  retrieve(providerRef: string): Promise<{ state: PaymentState; reason?: string }>;
  capture(request: CaptureRequest): Promise<CaptureResult>;
  void(request: VoidRequest): Promise<void>;
  refund(request: RefundRequest): Promise<RefundResult>;
}

/**
 * A verified, provider-neutral webhook event. `eventId` is the provider's id, used to
 * deduplicate; `bookingId` comes from the metadata we attached at authorize time.
 */
export interface PaymentEvent {
  provider: ProviderName;
  eventId: string;
  type: 'payment.authorized' | 'payment.declined' | 'payment.captured' | 'payment.refunded' | 'payment.canceled';
  providerRef: string;
  bookingId: string | null;
  reason?: string;
}

/** A provider's refusal that retrying cannot fix (bad card, bad request). Activities turn it into a non-retryable failure. */
export class PaymentRefused extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'PaymentRefused';
  }
}

export class WebhookRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookRejected';
  }
}
