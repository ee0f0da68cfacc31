import { expect } from 'chai';
import { priceBooking, PricingError, type PricingRule } from '../../domain/pricing';
import { DEFAULT_BOOKING_RULES, paymentPlan, refundFor } from '../../domain/booking-rules';

const now = new Date('2026-06-01T10:00:00Z');
const daysAhead = (d: number) => new Date(+now + d * 86_400_000);
const rule = (r: Partial<PricingRule> & Pick<PricingRule, 'kind' | 'adjustmentBp'>): PricingRule => ({
  id: r.kind, validFrom: null, validTo: null, minDaysBefore: null, maxDaysBefore: null, minPax: null, ...r,
});
const base = { currency: 'EUR', prices: { adult: 10000, child: 6000 }, rules: [], promo: null, partnerCommissionBp: 0, now };

describe('pricing', () => {
  it('prices pax types and sums them', () => {
    const p = priceBooking({ ...base, passengers: ['adult', 'adult', 'child'], departureAt: daysAhead(10) });
    expect(p.lines).to.deep.equal([
      { paxType: 'adult', quantity: 2, unitMinor: 10000, totalMinor: 20000 },
      { paxType: 'child', quantity: 1, unitMinor: 6000, totalMinor: 6000 },
    ]);
    expect(p).to.include({ subtotalMinor: 26000, totalMinor: 26000, netMinor: 26000, commissionMinor: 0 });
  });

  it('applies early bird, group and seasonal rules when they match, the strongest of a kind only', () => {
    const rules = [
      rule({ kind: 'early_bird', adjustmentBp: -1000, minDaysBefore: 60 }),
      rule({ kind: 'early_bird', adjustmentBp: -1500, minDaysBefore: 90 }),
      rule({ kind: 'group', adjustmentBp: -500, minPax: 3 }),
      rule({ kind: 'seasonal', adjustmentBp: 2000, validFrom: '2026-12-15', validTo: '2027-01-06' }),
      rule({ kind: 'last_minute', adjustmentBp: -2000, maxDaysBefore: 3 }),
    ];
    const far = priceBooking({ ...base, rules, passengers: ['adult', 'adult', 'adult'], departureAt: daysAhead(100) });
    expect(far.adjustments.map((a) => [a.kind, a.amountMinor])).to.have.deep.members([['early_bird', -4500], ['group', -1500]]);
    expect(far.totalMinor).to.equal(24000);
    const christmas = priceBooking({ ...base, rules, passengers: ['adult'], departureAt: new Date('2026-12-24T10:00:00Z') });
    expect(christmas.adjustments.map((a) => a.kind)).to.have.members(['seasonal', 'early_bird']);
    const soon = priceBooking({ ...base, rules, passengers: ['adult'], departureAt: daysAhead(2) });
    expect(soon.adjustments.map((a) => [a.kind, a.amountMinor])).to.deep.equal([['last_minute', -2000]]);
  });

  it('takes promo codes off after the rules, never below zero, and the partner commission last', () => {
    const pct = priceBooking({ ...base, passengers: ['adult'], departureAt: daysAhead(10), promo: { code: 'TEN', percentOffBp: 1000, amountOffMinor: null } });
    expect(pct.totalMinor).to.equal(9000);
    const flat = priceBooking({ ...base, passengers: ['adult'], departureAt: daysAhead(10), promo: { code: 'BIG', percentOffBp: null, amountOffMinor: 50000 } });
    expect(flat.totalMinor).to.equal(0);
    const partner = priceBooking({ ...base, passengers: ['adult', 'child'], departureAt: daysAhead(10), partnerCommissionBp: 800 });
    expect(partner).to.include({ totalMinor: 16000, commissionMinor: 1280, netMinor: 14720 });
  });

  it('refuses a pax type the tour does not price', () => {
    expect(() => priceBooking({ ...base, passengers: ['infant'], departureAt: daysAhead(10) })).to.throw(PricingError);
  });
});

describe('booking rules', () => {
  it('asks a 30% deposit more than 45 days ahead, else the full amount', () => {
    expect(paymentPlan(DEFAULT_BOOKING_RULES, 10000, daysAhead(46), now)).to.deep.equal({ plan: 'deposit', depositMinor: 3000, balanceDueAt: daysAhead(16).toISOString() });
    expect(paymentPlan(DEFAULT_BOOKING_RULES, 10000, daysAhead(45), now)).to.deep.equal({ plan: 'full', depositMinor: 10000, balanceDueAt: null });
  });

  it('refunds by tier and asks for approval when big or late', () => {
    const tiers: Array<[number, number]> = [[30, 10000], [29, 9000], [14, 9000], [13, 7500], [7, 7500], [6, 5000], [2, 5000], [1, 0], [0, 0]];
    for (const [days, bp] of tiers) {
      expect(refundFor(DEFAULT_BOOKING_RULES, 10000, 'EUR', daysAhead(days + 0.1), now).refundBp, `${days} days`).to.equal(bp);
    }
    expect(refundFor(DEFAULT_BOOKING_RULES, 999_999, 'EUR', daysAhead(40), now).needsApproval).to.equal(false);
    expect(refundFor(DEFAULT_BOOKING_RULES, 1_000_000, 'EUR', daysAhead(40), now).needsApproval).to.equal(true);
    // JPY has no minor unit: 10,000 yen is 10,000 minor units.
    expect(refundFor(DEFAULT_BOOKING_RULES, 10_000, 'JPY', daysAhead(40), now).needsApproval).to.equal(true);
    expect(refundFor(DEFAULT_BOOKING_RULES, 10_000, 'EUR', daysAhead(2.5), now)).to.include({ refundBp: 5000, needsApproval: true });
    // Nothing to refund: nothing to approve.
    expect(refundFor(DEFAULT_BOOKING_RULES, 10_000, 'EUR', daysAhead(0.5), now).needsApproval).to.equal(false);
  });
});
