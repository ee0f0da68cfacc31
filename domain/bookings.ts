/**
 * The enumerations of a booking, each in one place. Code, zod schemas and the database's check
 * constraints are derived from (or, for migrations, tested against: test/db/enumerations.test.ts)
 * these arrays, so a new status cannot be forgotten in one of them.
 */

/** Every status a booking can have (`bookings.status`). */
export const BOOKING_STATUSES = [
  'held', 'awaiting_payment', 'confirmed', 'paid_in_full', 'in_progress', 'completed',
  'expired', 'failed', 'cancelled', 'no_show',
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

/** A booking in one of these is over: nothing changes it any more, its workflow has ended. */
export const TERMINAL_STATUSES = ['expired', 'failed', 'cancelled', 'completed', 'no_show'] as const satisfies readonly BookingStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/** Not terminal: the booking still holds or uses seats (and a partner's credit). */
export const OPEN_STATUSES = BOOKING_STATUSES.filter((s): s is Exclude<BookingStatus, TerminalStatus> => !isTerminalStatus(s));

/** Statuses in which passengers or the departure may still be changed (amendments). */
export const CHANGEABLE_STATUSES = ['held', 'confirmed', 'paid_in_full'] as const satisfies readonly BookingStatus[];

/** Paid for and not undone: the bookings that count as sold (segments, reports). */
export const SOLD_STATUSES = ['confirmed', 'paid_in_full', 'in_progress', 'completed'] as const satisfies readonly BookingStatus[];

export function isTerminalStatus(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export function isBookingStatus(status: string): status is BookingStatus {
  return (BOOKING_STATUSES as readonly string[]).includes(status);
}

/** Online payment providers a customer can pay with (`POST /bookings/{id}/payments`). */
export const PAYMENT_PROVIDERS = ['sandbox', 'stripe', 'paypal'] as const;
export type PaymentProviderName = (typeof PAYMENT_PROVIDERS)[number];

/** Payments recorded by staff, not through a provider. */
export const OFFLINE_PAYMENT_METHODS = ['bank_transfer', 'cash'] as const;

/** Every value of `payments.provider`. */
export const PAYMENT_RECORD_PROVIDERS = [...PAYMENT_PROVIDERS, ...OFFLINE_PAYMENT_METHODS] as const;

export function isPaymentProvider(name: string): name is PaymentProviderName {
  return (PAYMENT_PROVIDERS as readonly string[]).includes(name);
}

/** Passenger types (`passengers.pax_type`, `tour_prices.pax_type`). */
export const PAX_TYPES = ['adult', 'child', 'infant'] as const;
export type PaxType = (typeof PAX_TYPES)[number];
