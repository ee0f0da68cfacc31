/**
 * RevenueMaximizer's core: a price recommendation per departure from its load factor against
 * the tour's booking curve, clamped to the tour's floor and ceiling. Pure and deterministic.
 *
 * - Booking curve: points (days before departure → expected share of seats sold, basis points),
 *   interpolated linearly; farther out than its first point, the first point's share; after its
 *   last point, the last point's share.
 * - Load factor: seats sold / capacity (held seats are not counted: a hold lapses in minutes).
 * - Gap = load − expected. Within the dead band (±10 points) the price stays where it is; outside
 *   it the adjustment is half the gap (20 points ahead of the curve → +10%), rounded to 1%,
 *   then clamped to [floor − 100%, ceiling − 100%]. Adjustments are relative to the base price,
 *   not to the current adjustment, so a recommendation never compounds.
 */
export interface CurvePoint { daysBefore: number; soldBp: number }

/** Expected share of seats sold by days before departure (a tour may set its own). */
export const DEFAULT_BOOKING_CURVE: readonly CurvePoint[] = [
  { daysBefore: 120, soldBp: 500 },
  { daysBefore: 90, soldBp: 1500 },
  { daysBefore: 60, soldBp: 3000 },
  { daysBefore: 30, soldBp: 5500 },
  { daysBefore: 14, soldBp: 7000 },
  { daysBefore: 7, soldBp: 8000 },
  { daysBefore: 0, soldBp: 8500 },
];

export interface PricingPolicy {
  /** No change while |load − expected| is below this (basis points of capacity). */
  deadBandBp: number;
  /** The adjustment as a share of the gap (5000: half). */
  responseBp: number;
  /** Adjustments are rounded to this step. */
  stepBp: number;
}

export const DEFAULT_POLICY: PricingPolicy = { deadBandBp: 1000, responseBp: 5000, stepBp: 100 };

export interface DepartureFacts {
  departureId: string;
  tourCode: string;
  startsAt: string;
  currency: string;
  capacity: number;
  seatsSold: number;
  /** Basis points of the base price. */
  floorBp: number;
  ceilingBp: number;
  curve: CurvePoint[] | null;
  /** The adjustment in effect now (0: none). */
  currentBp: number;
  /** The adult base price (minor units), to say what a change means. */
  adultBaseMinor: number | null;
}

export interface Recommendation {
  departureId: string;
  tourCode: string;
  startsAt: string;
  daysLeft: number;
  loadBp: number;
  expectedBp: number;
  gapBp: number;
  currentBp: number;
  recommendedBp: number;
  change: boolean;
  reason: string;
}

const DAY_MS = 86_400_000;

/** Half away from zero, so a cut and a raise of the same size round alike. */
function roundTo(value: number, step: number): number {
  const r = Math.sign(value) * Math.round(Math.abs(value) / step) * step;
  return r === 0 ? 0 : r;
}

export function expectedSoldBp(curve: readonly CurvePoint[], daysLeft: number): number {
  const points = [...curve].sort((a, b) => b.daysBefore - a.daysBefore);
  if (points.length === 0) return 0;
  if (daysLeft >= points[0].daysBefore) return points[0].soldBp;
  for (let i = 1; i < points.length; i++) {
    const far = points[i - 1];
    const near = points[i];
    if (daysLeft >= near.daysBefore) {
      const t = (far.daysBefore - daysLeft) / (far.daysBefore - near.daysBefore);
      return Math.round(far.soldBp + (near.soldBp - far.soldBp) * t);
    }
  }
  return points[points.length - 1].soldBp;
}

export function pct(bp: number): string {
  return `${(bp / 100).toFixed(bp % 100 === 0 ? 0 : 1)}%`;
}

export function recommendPrice(d: DepartureFacts, now: Date, policy: PricingPolicy = DEFAULT_POLICY): Recommendation {
  const daysLeft = Math.max(0, Math.floor((Date.parse(d.startsAt) - +now) / DAY_MS));
  const loadBp = d.capacity > 0 ? Math.round((d.seatsSold * 10000) / d.capacity) : 0;
  const expectedBp = expectedSoldBp(d.curve && d.curve.length ? d.curve : DEFAULT_BOOKING_CURVE, daysLeft);
  const gapBp = loadBp - expectedBp;
  const min = d.floorBp - 10000;
  const max = d.ceilingBp - 10000;
  const clamp = (bp: number) => Math.min(max, Math.max(min, bp));
  const within = Math.abs(gapBp) < policy.deadBandBp;
  const raw = within ? d.currentBp : roundTo((gapBp * policy.responseBp) / 10000, policy.stepBp);
  const recommendedBp = clamp(raw);
  const facts = `${d.seatsSold}/${d.capacity} sold (${pct(loadBp)}) against ${pct(expectedBp)} expected ${daysLeft} days out`;
  let reason: string;
  if (within) reason = `${facts}: on the curve, the price stays`;
  else if (recommendedBp !== raw) reason = `${facts}: ${gapBp > 0 ? 'ahead of' : 'behind'} the curve, held at the tour's ${gapBp > 0 ? 'ceiling' : 'floor'} (${pct(recommendedBp === max ? d.ceilingBp : d.floorBp)} of base)`;
  else reason = `${facts}: ${gapBp > 0 ? 'ahead of' : 'behind'} the curve by ${pct(Math.abs(gapBp))}`;
  return {
    departureId: d.departureId, tourCode: d.tourCode, startsAt: d.startsAt, daysLeft, loadBp, expectedBp, gapBp,
    currentBp: d.currentBp, recommendedBp, change: recommendedBp !== d.currentBp, reason,
  };
}

export interface PriceChange {
  departureId: string;
  tourCode: string;
  startsAt: string;
  currency: string;
  fromBp: number;
  toBp: number;
  adultBaseMinor: number | null;
  reason: string;
}

/** The changes to propose: those that move the price, the largest gaps first, at most `max`. */
export function priceChanges(departures: DepartureFacts[], now: Date, max: number, policy: PricingPolicy = DEFAULT_POLICY): { recommendations: Recommendation[]; changes: PriceChange[] } {
  const recommendations = departures.map((d) => recommendPrice(d, now, policy));
  const byId = new Map(departures.map((d) => [d.departureId, d]));
  const changes = recommendations.filter((r) => r.change)
    .sort((a, b) => Math.abs(b.gapBp) - Math.abs(a.gapBp) || a.startsAt.localeCompare(b.startsAt) || a.departureId.localeCompare(b.departureId))
    .slice(0, max)
    .map((r) => {
      const d = byId.get(r.departureId)!;
      return { departureId: r.departureId, tourCode: r.tourCode, startsAt: r.startsAt, currency: d.currency, fromBp: r.currentBp, toBp: r.recommendedBp, adultBaseMinor: d.adultBaseMinor, reason: r.reason };
    });
  return { recommendations, changes };
}

const money = (minor: number, currency: string) => `${(minor / 100).toFixed(2)} ${currency}`;
const signed = (bp: number) => `${bp < 0 ? '-' : '+'}${(Math.abs(bp) / 100).toFixed(2)}%`;

/** One line of the approval: what the price of a departure becomes. */
export function describeChange(c: PriceChange): string {
  const when = `${c.startsAt.slice(0, 16).replace('T', ' ')} UTC`;
  const adult = c.adultBaseMinor === null ? '' : ` (adult ${money(c.adultBaseMinor + Math.round((c.adultBaseMinor * c.fromBp) / 10000), c.currency)} → ${money(c.adultBaseMinor + Math.round((c.adultBaseMinor * c.toBp) / 10000), c.currency)})`;
  return `${c.tourCode} ${when}: ${signed(c.fromBp)} → ${signed(c.toBp)} of the base price${adult}; ${c.reason}`;
}
