/**
 * Pricing of a booking: pax-type prices (with departure overrides), then the departure's price
 * adjustment (an approved RevenueMaximizer change) and rule adjustments (seasonal, early bird,
 * group, last minute), then a promo code, then the partner's commission.
 * Integer minor units throughout; every step is a line of the breakdown the customer sees.
 */
import { daysBefore } from './booking-rules';
import { PAX_TYPES, type PaxType } from './bookings';

export type { PaxType };

export interface PricingRule {
  id: string;
  kind: 'seasonal' | 'early_bird' | 'group' | 'last_minute';
  adjustmentBp: number;
  validFrom: string | null; // departure date range (YYYY-MM-DD), seasonal
  validTo: string | null;
  minDaysBefore: number | null;
  maxDaysBefore: number | null;
  minPax: number | null;
}

export interface Promo {
  code: string;
  percentOffBp: number | null;
  amountOffMinor: number | null;
}

export interface PriceInput {
  currency: string;
  prices: Partial<Record<PaxType, number>>;
  passengers: PaxType[];
  rules: PricingRule[];
  promo: Promo | null;
  partnerCommissionBp: number;
  departureAt: Date;
  now: Date;
  /** The departure's price adjustment in effect (basis points of the subtotal), if any. */
  departureAdjustment?: { id: string; adjustmentBp: number } | null;
}

export interface PriceLine { paxType: PaxType; quantity: number; unitMinor: number; totalMinor: number }
export interface Adjustment {
  kind: string;
  label: string;
  amountMinor: number;
  /** kind 'departure_price': the departure_price_adjustments row it comes from. */
  adjustmentId?: string;
  adjustmentBp?: number;
}

/** "+12.50%", "-8.00%": a basis-point change as people read it. */
export function percentText(bp: number): string {
  return `${bp < 0 ? '-' : '+'}${(Math.abs(bp) / 100).toFixed(2)}%`;
}

export interface PriceBreakdown {
  currency: string;
  lines: PriceLine[];
  subtotalMinor: number;
  adjustments: Adjustment[];
  totalMinor: number;
  commissionBp: number;
  commissionMinor: number;
  netMinor: number;
}

export class PricingError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function ruleApplies(rule: PricingRule, pax: number, days: number, departureDate: string): boolean {
  if (rule.validFrom && departureDate < rule.validFrom) return false;
  if (rule.validTo && departureDate > rule.validTo) return false;
  switch (rule.kind) {
    case 'early_bird': return rule.minDaysBefore !== null && days >= rule.minDaysBefore;
    case 'last_minute': return rule.maxDaysBefore !== null && days <= rule.maxDaysBefore;
    case 'group': return rule.minPax !== null && pax >= rule.minPax;
    case 'seasonal': return true;
  }
}

const LABELS: Record<PricingRule['kind'], string> = {
  seasonal: 'Seasonal price', early_bird: 'Early bird', group: 'Group discount', last_minute: 'Last minute',
};

export function priceBooking(input: PriceInput): PriceBreakdown {
  const counts = new Map<PaxType, number>();
  for (const p of input.passengers) counts.set(p, (counts.get(p) ?? 0) + 1);
  const lines: PriceLine[] = [];
  for (const paxType of PAX_TYPES) {
    const quantity = counts.get(paxType);
    if (!quantity) continue;
    const unit = input.prices[paxType];
    if (unit === undefined) throw new PricingError('pax_type_not_offered', `This tour has no ${paxType} price.`);
    lines.push({ paxType, quantity, unitMinor: unit, totalMinor: unit * quantity });
  }
  const subtotal = lines.reduce((s, l) => s + l.totalMinor, 0);
  const days = daysBefore(input.departureAt, input.now);
  const departureDate = input.departureAt.toISOString().slice(0, 10);
  const adjustments: Adjustment[] = [];
  const dep = input.departureAdjustment;
  if (dep && dep.adjustmentBp !== 0) {
    adjustments.push({
      kind: 'departure_price', label: `Departure price ${percentText(dep.adjustmentBp)}`,
      amountMinor: Math.round((subtotal * dep.adjustmentBp) / 10000), adjustmentId: dep.id, adjustmentBp: dep.adjustmentBp,
    });
  }
  // Each applicable rule adjusts the subtotal; of several rules of one kind only the strongest counts.
  const best = new Map<string, PricingRule>();
  for (const rule of input.rules) {
    if (!ruleApplies(rule, input.passengers.length, days, departureDate)) continue;
    const current = best.get(rule.kind);
    if (!current || Math.abs(rule.adjustmentBp) > Math.abs(current.adjustmentBp)) best.set(rule.kind, rule);
  }
  for (const rule of best.values()) {
    adjustments.push({ kind: rule.kind, label: LABELS[rule.kind], amountMinor: Math.round((subtotal * rule.adjustmentBp) / 10000) });
  }
  let total = subtotal + adjustments.reduce((s, a) => s + a.amountMinor, 0);
  if (input.promo) {
    const off = input.promo.percentOffBp !== null ? Math.round((total * input.promo.percentOffBp) / 10000) : Math.min(total, input.promo.amountOffMinor ?? 0);
    adjustments.push({ kind: 'promo', label: `Promo ${input.promo.code}`, amountMinor: -off });
    total -= off;
  }
  total = Math.max(0, total);
  const commissionMinor = Math.round((total * input.partnerCommissionBp) / 10000);
  return {
    currency: input.currency, lines, subtotalMinor: subtotal, adjustments, totalMinor: total,
    commissionBp: input.partnerCommissionBp, commissionMinor, netMinor: total - commissionMinor,
  };
}
