/**
 * Refusals: a request that the business rules turn down, told apart from a failure. Code that
 * refuses throws a `Refused` with a stable `code` and a `kind`; it knows nothing of HTTP. The
 * API turns the kind into a status in one place (api/http/problem.ts):
 *   invalid → 400, forbidden → 403, not_found → 404, conflict → 409, unprocessable → 422,
 *   unavailable → 503 (an outside party did not answer; try again).
 */

export const REFUSAL_KINDS = ['invalid', 'forbidden', 'not_found', 'conflict', 'unprocessable', 'unavailable'] as const;
export type RefusalKind = (typeof REFUSAL_KINDS)[number];

export class Refused<Code extends string = string> extends Error {
  constructor(
    readonly kind: RefusalKind,
    readonly code: Code,
    message: string,
    /** Extra facts for the caller (e.g. `{ seatsAvailable: 2 }`); must be safe to show the client. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'Refused';
  }
}

/** Why a hold (`POST /bookings`, models/holds.ts `HoldRefused`) is refused, and what kind of refusal each is. */
export const HOLD_REFUSALS = {
  departure_not_found: 'not_found',
  departure_closed: 'conflict',
  departure_started: 'conflict',
  too_many_passengers: 'conflict',
  too_few_passengers: 'conflict',
  sold_out: 'conflict',
  not_enough_seats: 'conflict',
  promo_code_invalid: 'unprocessable',
  pax_type_not_offered: 'unprocessable',
  passenger_age_mismatch: 'unprocessable',
  adult_required: 'unprocessable',
  credit_limit_exceeded: 'conflict',
  partner_suspended: 'forbidden',
} as const satisfies Record<string, RefusalKind>;
export type HoldRefusalCode = keyof typeof HOLD_REFUSALS;

/**
 * Why a command on a booking (pay, cancel, amend, decide an approval) is refused, and what kind
 * of refusal each is. Amendments also refuse with the hold's codes (models/holds.ts).
 */
export const BOOKING_REFUSALS = {
  validation_failed: 'invalid',
  invalid_provider: 'invalid',
  invalid_payment_method: 'invalid',
  provider_not_configured: 'unprocessable',
  booking_closed: 'conflict',
  nothing_to_pay: 'conflict',
  booking_on_account: 'conflict',
  payment_in_progress: 'conflict',
  cancellation_pending: 'conflict',
  trip_started: 'conflict',
  approval_not_pending: 'conflict',
  amendment_in_progress: 'conflict',
  /** The request said what it pays (purpose, amount) and that is no longer what is due: a stale retry. */
  payment_mismatch: 'conflict',
  /** The payment provider did not answer in time; nothing was captured. */
  payment_unavailable: 'unavailable',
  // amendments (the hold's checks on the new passengers or departure)
  departure_not_found: 'not_found',
  different_tour: 'conflict',
  departure_closed: 'conflict',
  too_many_passengers: 'conflict',
  too_few_passengers: 'conflict',
  not_enough_seats: 'conflict',
  pax_type_not_offered: 'unprocessable',
  passenger_age_mismatch: 'unprocessable',
  adult_required: 'unprocessable',
  /** A supplier cannot move or resize a package component: the amendment is not made. */
  supplier_refused: 'conflict',
  /** A refusal whose reason this code does not know (a newer workflow's): a conflict. */
  refused: 'conflict',
} as const satisfies Record<string, RefusalKind>;
export type BookingRefusalCode = keyof typeof BOOKING_REFUSALS;

/**
 * The failure types the booking workflow's update validators and handlers refuse with
 * (ApplicationFailure.type), and the refusal code each one means. `AmendRefused` carries its
 * code in the failure's details instead.
 */
export const BOOKING_WORKFLOW_REFUSALS = {
  InvalidProvider: 'invalid_provider',
  InvalidPaymentMethod: 'invalid_payment_method',
  InvalidReason: 'validation_failed',
  InvalidAmendment: 'validation_failed',
  ProviderNotConfigured: 'provider_not_configured',
  BookingClosed: 'booking_closed',
  NothingToPay: 'nothing_to_pay',
  OnAccount: 'booking_on_account',
  PaymentInProgress: 'payment_in_progress',
  CancellationPending: 'cancellation_pending',
  TripStarted: 'trip_started',
  ApprovalNotPending: 'approval_not_pending',
  AmendmentInProgress: 'amendment_in_progress',
  PaymentMismatch: 'payment_mismatch',
  PaymentUnavailable: 'payment_unavailable',
} as const satisfies Record<string, BookingRefusalCode>;
export type BookingWorkflowRefusal = keyof typeof BOOKING_WORKFLOW_REFUSALS;

export class BookingRefused extends Refused<BookingRefusalCode> {
  constructor(code: BookingRefusalCode, message: string, details: Record<string, unknown> = {}) {
    super(BOOKING_REFUSALS[code], code, message, details);
    this.name = 'BookingRefused';
  }
}

export function isBookingRefusalCode(code: string): code is BookingRefusalCode {
  return Object.prototype.hasOwnProperty.call(BOOKING_REFUSALS, code);
}
