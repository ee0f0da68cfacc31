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
  /** What an approval that nobody decided in time becomes. */
  approvalExpiryOutcome: 'reject' | 'approve';
  /** How long a customer action (3-D Secure, PayPal approval) may take before the attempt is abandoned. */
  paymentActionTimeoutMinutes: number;
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
  approvalExpiryOutcome: 'reject',
  paymentActionTimeoutMinutes: 30,
  preTripReminderDays: 2,
  reviewRequestDaysAfter: 3,
  waitlistOfferHours: 24,
};

const whole = (min: number, max: number) => (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
/** Durations may be fractions (a compressed demo or test calendar holds seats for 0.02 minutes). */
const span = (min: number, max: number) => (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > min && v <= max;
const days = (min: number, max: number) => (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const CHECKS: { [K in keyof BookingRules]: [(v: unknown) => boolean, string] } = {
  holdMinutes: [span(0, 365 * 24 * 60), 'minutes above 0, at most 525600'],
  depositBp: [whole(0, 10000), 'basis points from 0 to 10000'],
  depositThresholdDays: [days(0, 3650), 'days from 0 to 3650'],
  balanceDueDaysBefore: [days(0, 3650), 'days from 0 to 3650'],
  balanceReminderDaysBeforeDue: [(v) => Array.isArray(v) && v.length <= 10 && v.every(days(0, 365)), 'a list of at most 10 days from 0 to 365'],
  autoCancelDaysAfterDue: [days(0, 365), 'days from 0 to 365'],
  refundTiers: [
    (v) => Array.isArray(v) && v.length >= 1 && v.length <= 20
      && v.every((t) => t && whole(0, 3650)(t.minDays) && whole(0, 10000)(t.refundBp))
      && v.every((t, i) => i === 0 || t.minDays < v[i - 1].minDays)
      && v[v.length - 1].minDays === 0,
    '1 to 20 tiers {minDays, refundBp}, minDays strictly decreasing and ending at 0',
  ],
  approvalRefundMajor: [(v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'an amount of 0 or more'],
  approvalWithinDays: [days(0, 365), 'days from 0 to 365'],
  approvalTimeoutHours: [span(0, 24 * 90), 'hours above 0, at most 2160'],
  approvalExpiryOutcome: [(v) => v === 'reject' || v === 'approve', '"reject" or "approve"'],
  paymentActionTimeoutMinutes: [span(0, 7 * 24 * 60), 'minutes above 0, at most 10080'],
  preTripReminderDays: [days(0, 365), 'days from 0 to 365'],
  reviewRequestDaysAfter: [days(0, 365), 'days from 0 to 365'],
  waitlistOfferHours: [span(0, 24 * 30), 'hours above 0, at most 720'],
};

/**
 * A branch's stored rules, checked field by field: a field that is not valid is replaced by its
 * default and named in `problems` (so one bad value never stops every booking of the branch),
 * unknown fields are named too. `timeScale` (0 < scale ≤ 1) is the demo/test calendar compression.
 */
export function parseBookingRules(raw: unknown): { rules: BookingRules; timeScale?: number; problems: string[] } {
  const problems: string[] = [];
  const rules: BookingRules = { ...DEFAULT_BOOKING_RULES };
  let timeScale: number | undefined;
  if (raw === null || raw === undefined) return { rules, problems };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { rules, problems: ['the rules must be a JSON object'] };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key === 'timeScale') {
      const n = Number(value);
      if (Number.isFinite(n) && n > 0 && n <= 1) timeScale = n;
      else problems.push('timeScale must be a number above 0 and at most 1');
      continue;
    }
    const check = CHECKS[key as keyof BookingRules];
    if (!check) {
      problems.push(`unknown rule "${key}"`);
      continue;
    }
    if (check[0](value)) (rules as unknown as Record<string, unknown>)[key] = value;
    else problems.push(`${key} must be ${check[1]}`);
  }
  return { rules, timeScale, problems };
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

/** The operator cancelled the departure: everything paid goes back, with no approval (the cancellation itself was approved). */
export function fullRefund(paidMinor: number, departureAt: Date, now: Date): RefundDecision {
  return { refundBp: 10000, refundMinor: Math.max(0, paidMinor), daysBefore: daysBefore(departureAt, now), needsApproval: false, approvalReason: null };
}
