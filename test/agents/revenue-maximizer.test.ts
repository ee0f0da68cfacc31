/**
 * RevenueMaximizer: the core (load factor against the booking curve → a price clamped to the
 * tour's floor and ceiling) with exact numbers, pricing with a departure price adjustment, and
 * the agent end to end: run → approval saying exactly what price changes → approve → a new hold
 * is priced with the adjustment (older holds keep theirs); reject → nothing changes.
 */
import { expect } from 'chai';
import { DEFAULT_BOOKING_CURVE, describeChange, expectedSoldBp, priceChanges, recommendPrice, type DepartureFacts } from '../../agents/revenue-maximizer/core';
import { applyPriceChangesTool } from '../../agents/revenue-maximizer/tools';
import { priceBooking } from '../../domain/pricing';
import { api, loginAs } from '../support/http';
import { eventually, hold, scenario } from '../support/bookings';
import { stack } from '../support/stack';
import { pendingAgentApproval } from '../support/agents';

const NOW = new Date('2026-12-02T08:00:00Z');
const facts = (over: Partial<DepartureFacts>): DepartureFacts => ({
  departureId: '00000000-0000-4000-8000-000000000001', tourCode: 'T-1', startsAt: '2027-01-01T10:00:00.000Z', currency: 'EUR',
  capacity: 20, seatsSold: 0, floorBp: 8500, ceilingBp: 11500, curve: null, currentBp: 0, adultBaseMinor: 10000, ...over,
});
const daysOut = (days: number, hours = 2) => new Date(+NOW + days * 86_400_000 + hours * 3_600_000).toISOString();

describe('RevenueMaximizer core', () => {
  it('reads the booking curve by days before departure, interpolating between its points', () => {
    expect(expectedSoldBp(DEFAULT_BOOKING_CURVE, 200)).to.equal(500);
    expect(expectedSoldBp(DEFAULT_BOOKING_CURVE, 30)).to.equal(5500);
    expect(expectedSoldBp(DEFAULT_BOOKING_CURVE, 20)).to.equal(6438); // 5500 + 1500 × 10/16
    expect(expectedSoldBp(DEFAULT_BOOKING_CURVE, 0)).to.equal(8500);
    expect(expectedSoldBp([{ daysBefore: 10, soldBp: 2000 }, { daysBefore: 0, soldBp: 6000 }], 5)).to.equal(4000);
  });

  it('ahead of the curve raises the price by half the gap, up to the ceiling', () => {
    // 14/20 = 70% against 55% at 30 days: +15 points → +7.5% → +8% (1% steps).
    const up = recommendPrice(facts({ seatsSold: 14, startsAt: daysOut(30) }), NOW);
    expect(up).to.deep.include({ daysLeft: 30, loadBp: 7000, expectedBp: 5500, gapBp: 1500, recommendedBp: 800, change: true });
    expect(up.reason).to.equal('14/20 sold (70%) against 55% expected 30 days out: ahead of the curve by 15%');
    // 18/20 = 90%: +35 points → +17.5% → +18%, clamped to the ceiling 115%.
    const capped = recommendPrice(facts({ seatsSold: 18, startsAt: daysOut(30) }), NOW);
    expect(capped).to.deep.include({ gapBp: 3500, recommendedBp: 1500, change: true });
    expect(capped.reason).to.equal('18/20 sold (90%) against 55% expected 30 days out: ahead of the curve, held at the tour\'s ceiling (115% of base)');
  });

  it('behind the curve lowers it, down to the floor; on the curve it stays', () => {
    // 2/20 = 10% against 70% at 14 days: −60 points → −30%, clamped to the floor 85%.
    expect(recommendPrice(facts({ seatsSold: 2, startsAt: daysOut(14) }), NOW)).to.deep.include({ loadBp: 1000, expectedBp: 7000, gapBp: -6000, recommendedBp: -1500, change: true });
    // 6/20 = 30% against 30% at 60 days: within the dead band, the current +3% stays.
    expect(recommendPrice(facts({ seatsSold: 6, startsAt: daysOut(60), currentBp: 300 }), NOW)).to.deep.include({ expectedBp: 3000, gapBp: 0, recommendedBp: 300, change: false });
    // A tour's own curve: 50% expected at 10 days; 4/20 sold → −30 points → −15% → floor −15%.
    expect(recommendPrice(facts({ seatsSold: 4, startsAt: daysOut(10), curve: [{ daysBefore: 10, soldBp: 5000 }, { daysBefore: 0, soldBp: 9000 }], floorBp: 9000 }), NOW))
      .to.deep.include({ expectedBp: 5000, gapBp: -3000, recommendedBp: -1000 });
  });

  it('proposes only changes, largest gaps first, at most the limit, each described exactly', () => {
    const departures = [
      facts({ departureId: 'a', tourCode: 'A', seatsSold: 14, startsAt: daysOut(30) }), // +15 points
      facts({ departureId: 'b', tourCode: 'B', seatsSold: 2, startsAt: daysOut(14) }), // −60 points
      facts({ departureId: 'c', tourCode: 'C', seatsSold: 11, startsAt: daysOut(30) }), // on the curve
    ];
    const { recommendations, changes } = priceChanges(departures, NOW, 1);
    expect(recommendations.map((r) => r.change)).to.deep.equal([true, true, false]);
    expect(changes.map((c) => [c.departureId, c.fromBp, c.toBp])).to.deep.equal([['b', 0, -1500]]);
    expect(describeChange(changes[0])).to.equal(`B ${daysOut(14).slice(0, 16).replace('T', ' ')} UTC: +0.00% → -15.00% of the base price (adult 100.00 EUR → 85.00 EUR); 2/20 sold (10%) against 70% expected 14 days out: behind the curve, held at the tour's floor (85% of base)`);
  });

  it('pricing names the departure price adjustment in the breakdown', () => {
    const b = priceBooking({
      currency: 'EUR', prices: { adult: 10000 }, passengers: ['adult', 'adult'], rules: [], promo: null, partnerCommissionBp: 0,
      departureAt: new Date(daysOut(30)), now: NOW, departureAdjustment: { id: 'adj-1', adjustmentBp: 1500 },
    });
    expect(b.subtotalMinor).to.equal(20000);
    expect(b.adjustments).to.deep.equal([{ kind: 'departure_price', label: 'Departure price +15.00%', amountMinor: 3000, adjustmentId: 'adj-1', adjustmentBp: 1500 }]);
    expect(b.totalMinor).to.equal(23000);
  });
});

describe('RevenueMaximizer (agent, through the API)', function () {
  this.timeout(90_000);
  let operator: string;
  let customer: string;
  before(async () => {
    [operator, customer] = await Promise.all([loginAs('operator'), loginAs('customer')]);
  });

  /** A tour priced between 85% and 115% of its base, one departure 30.5 days out with 36 of 40 seats sold. */
  async function pricedDeparture() {
    const s = await scenario({ daysAhead: 30.5, capacity: 40, adultMinor: 10000 });
    const { knex } = stack();
    await knex('tours').where({ id: s.tourId }).update({ price_floor_bp: 8500, price_ceiling_bp: 11500 });
    await knex('departures').where({ id: s.departureId }).update({ seats_sold: 36 });
    const tour = await knex('tours').where({ id: s.tourId }).first('code');
    const line = `${tour.code} ${s.departureAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: +0.00% → +15.00% of the base price (adult 100.00 EUR → 115.00 EUR); `
      + '36/40 sold (90%) against 55% expected 30 days out: ahead of the curve, held at the tour\'s ceiling (115% of base)';
    return { ...s, code: tour.code as string, line };
  }
  const runStatus = async (id: string) => (await api('GET', `/api/v1/agent-runs/${encodeURIComponent(id)}`, { token: operator })).body;
  const pendingApproval = (runId: string) => pendingAgentApproval(runId, operator, 30_000);
  const finished = (id: string) => eventually(async () => {
    const r = await runStatus(id);
    return ['completed', 'failed'].includes(r.status) && r;
  }, 30_000);

  it('a run over everything waits for approval saying exactly what price changes; rejected, nothing changes', async () => {
    const d = await pricedDeparture();
    const started = await api('POST', '/api/v1/agents/RevenueMaximizer/runs', { token: operator, body: { input: {} } });
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    const approval = await pendingApproval(started.body.id);
    expect((await runStatus(started.body.id)).status).to.equal('waiting_approval');
    expect(approval.what).to.match(/^Change the price of \d+ departures? from approval on \(holds and bookings already made keep their price\):\n/);
    expect(approval.what.split('\n')).to.include(`- ${d.line}`);
    expect(approval.requestedBy).to.deep.equal({ kind: 'agent', id: 'RevenueMaximizer' });

    const rejected = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: { reason: 'not before the holidays' } });
    expect(rejected.status).to.equal(200);
    const done = await finished(started.body.id);
    expect(done.status).to.equal('completed');
    expect(done.output.actions).to.deep.equal([{ tool: 'revenue.applyPriceChanges', status: 'rejected' }]);
    expect(await stack().knex('departure_price_adjustments').where({ departure_id: d.departureId })).to.have.length(0);
    const held = await hold(customer, d.departureId, 1);
    expect(held.price.total).to.equal(10000);
    expect(held.price.breakdown.adjustments).to.deep.equal([]);
  });

  it('approved, the adjustment is recorded and prices new holds (named in their breakdown); earlier holds keep their price', async () => {
    const d = await pricedDeparture();
    const before = await hold(customer, d.departureId, 2);
    expect(before.price.total).to.equal(20000);

    const started = await api('POST', '/api/v1/agents/RevenueMaximizer/runs', { token: operator, body: { input: { tourCodes: [d.code] } } });
    const approval = await pendingApproval(started.body.id);
    expect(approval.what).to.equal(`Change the price of 1 departure from approval on (holds and bookings already made keep their price):\n- ${d.line}`);
    const approved = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: operator, body: {} });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    const done = await finished(started.body.id);
    expect(done.status).to.equal('completed');
    expect(done.output).to.deep.include({ evaluated: 1, changes: 1 });
    expect(done.output.actions[0]).to.deep.include({ tool: 'revenue.applyPriceChanges', status: 'done' });

    const rows = await stack().knex('departure_price_adjustments').where({ departure_id: d.departureId });
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ adjustment_bp: 1500, approved_by_run: started.body.id });
    expect(rows[0].reason).to.equal('36/40 sold (90%) against 55% expected 30 days out: ahead of the curve, held at the tour\'s ceiling (115% of base)');

    const after = await hold(customer, d.departureId, 2);
    expect(after.price.total).to.equal(23000);
    expect(after.price.breakdown.adjustments).to.deep.equal([{ kind: 'departure_price', label: 'Departure price +15.00%', amountMinor: 3000, adjustmentId: rows[0].id, adjustmentBp: 1500 }]);
    const earlier = await api('GET', `/api/v1/bookings/${before.id}`, { token: customer });
    expect(earlier.body.price.total).to.equal(20000);
    const departure = await api('GET', `/api/v1/departures/${d.departureId}`, {});
    expect(departure.body.prices.find((p: { paxType: string }) => p.paxType === 'adult').amount).to.equal(11500);
    expect(departure.body.priceAdjustmentBp).to.equal(1500);

    // Run again: the price is where the curve wants it, nothing to propose.
    const again = await api('POST', '/api/v1/agents/RevenueMaximizer/runs', { token: operator, body: { input: { tourCodes: [d.code] } } });
    const second = await finished(again.body.id);
    expect(second.output).to.deep.include({ evaluated: 1, changes: 0 });
    expect(second.output).to.not.have.property('actions');
  });

  it('applying price changes answers once per step key, and records one adjustment per departure', async () => {
    const d = await pricedDeparture();
    const { knex, temporal } = stack();
    const ctx = {
      knex, runId: 'agent-RevenueMaximizer-test-once', agent: 'RevenueMaximizer' as const, stepKey: `agent-RevenueMaximizer-test-once/act-${d.departureId}`,
      actor: 'agent:RevenueMaximizer', temporal: async () => temporal, publicUrl: 'http://localhost', now: () => new Date(),
    };
    const input = { changes: [{ departureId: d.departureId, tourCode: d.code, startsAt: d.departureAt.toISOString(), currency: 'EUR', fromBp: 0, toBp: -500, adultBaseMinor: 10000, reason: 'test' }] };
    const first = await applyPriceChangesTool.run(ctx, input);
    const retried = await applyPriceChangesTool.run(ctx, input);
    expect(retried).to.deep.equal(first);
    expect(await knex('departure_price_adjustments').where({ departure_id: d.departureId })).to.have.length(1);
  });
});
