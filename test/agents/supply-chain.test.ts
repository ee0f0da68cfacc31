/**
 * SupplyChain: its core (pure, exact), and end to end on the real stack: a supplier incident
 * starts a run that waits for approval; approved, the booking moves to another departure of its
 * tour through the booking's amendment (seats move, money unchanged in the ledger); rejected,
 * nothing changes; a booking with no alternative is listed for a person; the move runs once.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { planAlternatives, supplyNarrative, type AffectedBooking, type CandidateDeparture } from '../../agents/supply-chain/core';
import { rebookBooking, supplyFacts } from '../../agents/supply-chain/tools';
import type { ToolContext } from '../../agents/types';
import { bookingLedger } from '../../models/ledger';
import { api, loginAs } from '../support/http';
import { hold, scenario, seats } from '../support/bookings';
import { stack } from '../support/stack';
import { agentRunFinished, pendingAgentApproval } from '../support/agents';

const T0 = '2027-03-10T09:00:00.000Z';
const at = (days: number) => new Date(Date.parse(T0) + days * 86_400_000).toISOString();
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function booking(n: number, over: Partial<AffectedBooking> = {}): AffectedBooking {
  return {
    bookingId: id(n), reference: `REF${n}`, status: 'confirmed', branchId: id(900), departureId: id(100), tourId: id(200), tourCode: 'T-A',
    startsAt: T0, paxCount: 2, category: 'culture', destinationCity: 'Madrid', destinationCountry: 'ES', ...over,
  };
}
function departure(n: number, over: Partial<CandidateDeparture> = {}): CandidateDeparture {
  return { departureId: id(n), tourId: id(200), tourCode: 'T-A', startsAt: at(2), seatsLeft: 10, category: 'culture', destinationCity: 'Madrid', destinationCountry: 'ES', ...over };
}

describe('SupplyChain core', () => {
  it('moves each booking to the nearest departure of its tour with room, sharing the seats in order', () => {
    const plan = planAlternatives({
      affected: [booking(1, { paxCount: 3 }), booking(2, { paxCount: 2 }), booking(3, { paxCount: 2, startsAt: at(1), departureId: id(101) })],
      candidates: [
        departure(110, { startsAt: at(-1), seatsLeft: 4 }), // 1 day before T0
        departure(111, { startsAt: at(3), seatsLeft: 2 }),
        departure(112, { startsAt: at(9), seatsLeft: 8 }),
      ],
    });
    // In trip order, then by reference: REF1 takes day -1 (1 day away; day 3 is too small), REF2 then finds 1 seat there and takes day 3, REF3 takes day 9.
    expect(plan.rebook).to.deep.equal([
      { bookingId: id(1), reference: 'REF1', tourCode: 'T-A', paxCount: 3, fromDepartureId: id(100), fromStartsAt: T0, toDepartureId: id(110), toStartsAt: at(-1) },
      { bookingId: id(2), reference: 'REF2', tourCode: 'T-A', paxCount: 2, fromDepartureId: id(100), fromStartsAt: T0, toDepartureId: id(111), toStartsAt: at(3) },
      { bookingId: id(3), reference: 'REF3', tourCode: 'T-A', paxCount: 2, fromDepartureId: id(101), fromStartsAt: at(1), toDepartureId: id(112), toStartsAt: at(9) },
    ]);
    expect(plan.similar).to.deep.equal([]);
    expect(plan.unresolved).to.deep.equal([]);
  });

  it('breaks a tie in distance by the earlier departure', () => {
    const plan = planAlternatives({ affected: [booking(1)], candidates: [departure(131, { startsAt: at(2) }), departure(130, { startsAt: at(-2) })] });
    expect(plan.rebook.map((r) => r.toDepartureId)).to.deep.equal([id(130)]);
  });

  it('never moves a booking to a departure the incident hits; offers a similar tour (same city first) to a person, else lists it', () => {
    const plan = planAlternatives({
      affected: [booking(1), booking(2, { paxCount: 5 }), booking(3, { status: 'awaiting_payment' })],
      candidates: [
        departure(100, { seatsLeft: 30 }), // the affected departure itself
        departure(120, { tourId: id(201), tourCode: 'T-B', destinationCity: 'Toledo', startsAt: at(0.5), seatsLeft: 4 }),
        departure(121, { tourId: id(202), tourCode: 'T-C', startsAt: at(6), seatsLeft: 4 }),
        departure(122, { tourId: id(203), tourCode: 'T-D', category: 'food', startsAt: at(0), seatsLeft: 40 }),
      ],
    });
    expect(plan.rebook).to.deep.equal([]);
    expect(plan.similar).to.deep.equal([
      { bookingId: id(1), reference: 'REF1', paxCount: 2, tourCode: 'T-A', suggestedTourCode: 'T-C', suggestedDepartureId: id(121), suggestedStartsAt: at(6) },
    ]);
    expect(plan.unresolved).to.deep.equal([
      { bookingId: id(2), reference: 'REF2', reason: 'no other departure of this tour or a similar tour has room' },
      { bookingId: id(3), reference: 'REF3', reason: 'a awaiting_payment booking cannot be moved now (a payment is in progress)' },
    ]);
    expect(supplyNarrative('Acme', T0, at(1), 3, plan)).to.equal(
      `3 booking(s) are on departures operated by Acme between ${T0} and ${at(1)}: 0 can move to another departure of their tour (each after approval), 1 have only a similar tour to offer and 2 have no alternative (both for a person).`,
    );
  });
});

describe('SupplyChain agent (incident → approval → rebooking)', function () {
  this.timeout(120_000);
  let operator: string;
  let admin: string;
  let customer: string;

  before(async () => {
    [operator, admin, customer] = await Promise.all([loginAs('operator'), loginAs('admin'), loginAs('customer')]);
  });

  const run = (runId: string) => api('GET', `/api/v1/agent-runs/${encodeURIComponent(runId)}`, { token: operator });
  const finished = (runId: string) => agentRunFinished(runId, operator);
  // The action belongs to the booking's branch (a test branch): an admin sees it.
  const pendingApproval = (runId: string) => pendingAgentApproval(runId, admin, 60_000);

  /** A tour of our own, run by a supplier of our own, with the affected departure and a later one; a paid booking of two on the first. */
  async function setup() {
    const s = await scenario({ daysAhead: 20, adultMinor: 10000, capacity: 10 });
    const { knex } = stack();
    const supplier = `Acme Coaches ${crypto.randomBytes(3).toString('hex')}`;
    await knex('tours').where({ id: s.tourId }).update({ supplier, category: `c-${crypto.randomBytes(4).toString('hex')}` });
    const [later] = await knex('departures').insert({ tour_id: s.tourId, starts_at: new Date(+s.departureAt + 2 * 86_400_000), timezone: 'Europe/Madrid', capacity: 10 }).returning('id');
    const b = await hold(customer, s.departureId, 2);
    const paid = await api('POST', `/api/v1/bookings/${b.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    const incident = await api('POST', '/api/v1/incidents', {
      token: operator,
      body: { kind: 'supplier', supplier, from: new Date(+s.departureAt - 3_600_000).toISOString(), to: new Date(+s.departureAt + 86_400_000).toISOString() },
    });
    expect(incident.status, JSON.stringify(incident.body)).to.equal(202);
    expect(incident.body.runs).to.have.length(1);
    return { s, later: later.id as string, bookingId: b.id as string, reference: b.reference as string, incident: incident.body, runId: incident.body.runs[0].id as string };
  }

  it('waits for approval, then moves the booking to the other departure: seats move, the money stays', async () => {
    const { s, later, bookingId, reference, incident, runId } = await setup();
    expect(runId).to.match(new RegExp(`agent-SupplyChain-incident-${incident.id}$`));
    const approval = await pendingApproval(runId);
    expect(approval.branchId).to.equal(s.branchId);
    expect(approval.what).to.match(new RegExp(`^Move booking ${reference} \\(2 passenger\\(s\\), tour TEST-[0-9A-F]+\\) from the departure of ${s.departureAt.toISOString()} to the departure of`));
    expect((await run(runId)).body.status).to.equal('waiting_approval');
    const before = await bookingLedger(stack().knex, bookingId);
    expect(before).to.include({ capturedMinor: 20000, refundedMinor: 0, netPaidMinor: 20000 });

    const approved = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: admin, body: { note: 'move them' } });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    const done = await finished(runId);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.output).to.deep.include({ affected: 1, similar: [], unresolved: [] });
    expect(done.output.actions).to.have.length(1);
    expect(done.output.actions[0]).to.deep.include({ tool: 'supply.rebook', status: 'done' });
    expect(done.output.actions[0].result).to.deep.equal({
      bookingId, outcome: 'moved', departureId: later, bookingStatus: 'paid_in_full', totalMinor: 20000, amountPaidMinor: 20000, refundMinor: 0,
    });

    const row = await stack().knex('bookings').where({ id: bookingId }).first();
    expect(row).to.include({ departure_id: later, status: 'paid_in_full' });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    expect(await seats(later)).to.deep.equal({ held: 0, sold: 2 });
    const after = await bookingLedger(stack().knex, bookingId);
    expect(after).to.include({ capturedMinor: 20000, refundedMinor: 0, netPaidMinor: 20000 });
    expect(await stack().knex('booking_events').where({ booking_id: bookingId, type: 'amended' })).to.have.length(1);

    // The incident shows the run it started.
    const read = await api('GET', `/api/v1/incidents/${incident.id}`, { token: operator });
    expect(read.status).to.equal(200);
    expect(read.body.runs.map((r: { id: string; agent: string }) => [r.id, r.agent])).to.deep.equal([[runId, 'SupplyChain']]);

    // The move answers once: the same call again answers what it answered, and moves nothing.
    const recorded = await stack().knex('agent_tool_outcomes').where({ run_id: runId, tool: 'supply.rebook' });
    expect(recorded).to.have.length(1);
    const ctx: ToolContext = {
      knex: stack().knex, runId, agent: 'SupplyChain', stepKey: recorded[0].step_key, actor: 'agent:SupplyChain',
      temporal: async () => stack().temporal, publicUrl: 'http://localhost', now: () => new Date(),
    };
    const again = await rebookBooking.run(ctx, rebookBooking.input.parse(done.steps.find((x: { kind: string }) => x.kind === 'approval').input.input));
    expect(again).to.deep.equal(done.output.actions[0].result);
    expect(await stack().knex('booking_events').where({ booking_id: bookingId, type: 'amended' })).to.have.length(1);
    expect(await seats(later)).to.deep.equal({ held: 0, sold: 2 });
  });

  it('changes nothing when the move is rejected', async () => {
    const { s, later, bookingId, runId } = await setup();
    const approval = await pendingApproval(runId);
    const rejected = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: admin, body: { reason: 'the supplier found a replacement coach' } });
    expect(rejected.status, JSON.stringify(rejected.body)).to.equal(200);
    const done = await finished(runId);
    expect(done.status).to.equal('completed');
    expect(done.output.actions).to.deep.equal([{ tool: 'supply.rebook', status: 'rejected' }]);
    const row = await stack().knex('bookings').where({ id: bookingId }).first();
    expect(row).to.include({ departure_id: s.departureId, status: 'paid_in_full' });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 2 });
    expect(await seats(later)).to.deep.equal({ held: 0, sold: 0 });
    expect(await bookingLedger(stack().knex, bookingId)).to.include({ capturedMinor: 20000, refundedMinor: 0, netPaidMinor: 20000 });
    expect(await stack().knex('booking_events').where({ booking_id: bookingId, type: 'amended' })).to.have.length(0);
  });

  it('on the demo catalog: a Riviera Maya Transportes failure on one Cenotes morning moves its party to the nearest other Cenotes departure', async () => {
    const { knex } = stack();
    const tour = await knex('tours').where({ code: 'CUN-CENOTES' }).first('id', 'supplier');
    expect(tour.supplier).to.equal('Riviera Maya Transportes');
    const deps = await knex('departures').where({ tour_id: tour.id, status: 'scheduled' }).where('starts_at', '>', new Date(Date.now() + 86_400_000)).orderBy('starts_at').limit(3).select('id', 'starts_at');
    const [before, hit, after] = deps; // every 2 days: the one before and the one after are equally near; the earlier wins
    const b = await hold(customer, hit.id, 2);
    try {
      const window = { supplier: 'riviera maya transportes', from: new Date(+hit.starts_at - 3_600_000).toISOString(), to: new Date(+hit.starts_at + 3_600_000).toISOString() };
      const facts = await supplyFacts(knex, window, new Date());
      const mine = facts.affected.filter((a) => a.bookingId === b.id);
      expect(mine).to.deep.equal([{
        bookingId: b.id, reference: b.reference, status: 'held', branchId: mine[0].branchId, departureId: hit.id, tourId: tour.id, tourCode: 'CUN-CENOTES',
        startsAt: new Date(hit.starts_at).toISOString(), paxCount: 2, category: 'adventure', destinationCity: 'Tulum', destinationCountry: 'MX',
      }]);
      expect(facts.candidates.map((c) => c.departureId)).to.include.members([before.id, after.id]).and.not.include(hit.id);
      const plan = planAlternatives({ affected: mine, candidates: facts.candidates });
      expect(plan.rebook).to.deep.equal([{
        bookingId: b.id, reference: b.reference, tourCode: 'CUN-CENOTES', paxCount: 2, fromDepartureId: hit.id, fromStartsAt: new Date(hit.starts_at).toISOString(),
        toDepartureId: before.id, toStartsAt: new Date(before.starts_at).toISOString(),
      }]);
    } finally {
      await api('POST', `/api/v1/bookings/${b.id}/cancel`, { token: customer, body: { reason: 'test over' } });
    }
  });

  it('lists a booking with no alternative for a person and proposes nothing', async () => {
    const s = await scenario({ daysAhead: 25, adultMinor: 10000, capacity: 4 });
    const { knex } = stack();
    const supplier = `Lonely Boats ${crypto.randomBytes(3).toString('hex')}`;
    await knex('tours').where({ id: s.tourId }).update({ supplier, category: `c-${crypto.randomBytes(4).toString('hex')}` });
    const b = await hold(customer, s.departureId, 1);
    const incident = await api('POST', '/api/v1/incidents', {
      token: operator, body: { kind: 'supplier', supplier: supplier.toUpperCase(), from: new Date(+s.departureAt - 60_000).toISOString(), to: new Date(+s.departureAt + 60_000).toISOString() },
    });
    expect(incident.status).to.equal(202);
    const done = await finished(incident.body.runs[0].id);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.output).to.deep.include({ affected: 1, rebook: [], similar: [] });
    expect(done.output.unresolved).to.deep.equal([{ bookingId: b.id, reference: b.reference, reason: 'no other departure of this tour or a similar tour has room' }]);
    expect(done.output.actions).to.equal(undefined);
    expect(done.pendingApprovals).to.deep.equal([]);
  });
});
