/** The booking rules of domain.md, as data with defaults, and the pure functions over them. */

export interface BookingRules {
  holdMinutes: number;
  /** Deposit share (basis points) when the departure is more than depositThresholdDays away. */
  depositBp: number;
  depositThresholdDays: number;
  balanceDueDaysBefore: number;
  balanceReminderDaysBeforeDue: number[];
  autoCancelDaysAfterDue: number;
  /** Refund share of the amount paid, by days before departure (first tier whose minDays is met). */
  refundTiers: Array<{ minDays: number; refundBp: number }>;
  /** A refund at or above this amount (major units of the booking currency) needs a manager. */
  approvalRefundMajor: number;
  /** A refund within this many days of departure needs a manager. */
  approvalWithinDays: number;
  approvalTimeoutHours: number;
  preTripReminderDays: number;
  reviewRequestDaysAfter: number;
  waitlistOfferHours: number;
}

export const DEFAULT_BOOKING_RULES: BookingRules = {
  holdMinutes: 15,
  depositBp: 3000,
  depositThresholdDays: 45,
  balanceDueDaysBefore: 30,
  balanceReminderDaysBeforeDue: [7, 1],
  autoCancelDaysAfterDue: 3,
  refundTiers: [
    { minDays: 30, refundBp: 10000 },
    { minDays: 14, refundBp: 9000 },
    { minDays: 7, refundBp: 7500 },
    { minDays: 2, refundBp: 5000 },
    { minDays: 0, refundBp: 0 },
  ],
  approvalRefundMajor: 10000,
  approvalWithinDays: 3,
  approvalTimeoutHours: 72,
  preTripReminderDays: 2,
  reviewRequestDaysAfter: 3,
  waitlistOfferHours: 24,
};

export function mergeRules(overrides: Partial<BookingRules> | null | undefined): BookingRules {
  return { ...DEFAULT_BOOKING_RULES, ...(overrides ?? {}) };
}

const DAY_MS = 86_400_000;

/** Whole days from `now` until `at` (floor), the unit the policies speak in. */
export function daysBefore(at: Date | number, now: Date | number): number {
  return Math.floor((+at - +now) / DAY_MS);
}

export interface PaymentPlan {
  plan: 'full' | 'deposit';
  depositMinor: number;
  /** ISO instant when the balance is due (deposit plans only). */
  balanceDueAt: string | null;
}

export function paymentPlan(rules: BookingRules, totalMinor: number, departureAt: Date, now: Date): PaymentPlan {
  if (totalMinor > 0 && daysBefore(departureAt, now) > rules.depositThresholdDays) {
    return {
      plan: 'deposit',
      depositMinor: Math.round((totalMinor * rules.depositBp) / 10000),
      balanceDueAt: new Date(+departureAt - rules.balanceDueDaysBefore * DAY_MS).toISOString(),
    };
  }
  return { plan: 'full', depositMinor: totalMinor, balanceDueAt: null };
}

/** ISO 4217 minor-unit exponents that are not 2. */
const EXPONENT: Record<string, number> = { JPY: 0, KRW: 0, CLP: 0, BHD: 3, KWD: 3, JOD: 3, OMR: 3, TND: 3 };
export function currencyExponent(currency: string): number {
  return EXPONENT[currency] ?? 2;
}

export interface RefundDecision {
  refundBp: number;
  refundMinor: number;
  daysBefore: number;
  needsApproval: boolean;
  approvalReason: string | null;
}

export function refundFor(rules: BookingRules, paidMinor: number, currency: string, departureAt: Date, now: Date): RefundDecision {
  const days = daysBefore(departureAt, now);
  const tier = rules.refundTiers.find((t) => days >= t.minDays) ?? { refundBp: 0 };
  const refundMinor = Math.floor((paidMinor * tier.refundBp) / 10000);
  const threshold = rules.approvalRefundMajor * 10 ** currencyExponent(currency);
  let approvalReason: string | null = null;
  if (refundMinor > 0 && refundMinor >= threshold) approvalReason = `refund of ${rules.approvalRefundMajor} ${currency} or more`;
  else if (refundMinor > 0 && days < rules.approvalWithinDays) approvalReason = `refund within ${rules.approvalWithinDays} days of departure`;
  return { refundBp: tier.refundBp, refundMinor, daysBefore: days, needsApproval: approvalReason !== null, approvalReason };
}
