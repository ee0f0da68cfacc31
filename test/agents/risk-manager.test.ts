/**
 * RiskManager: its core (pure, exact scores and decisions), and end to end on the real stack:
 * a departure below its minimum at the guarantee deadline is a no-go; approved, every booking on
 * it is cancelled through its workflow with a FULL refund (captured − refunded = 0, though the
 * customer policy would keep 10% at 20 days), the departure is cancelled with its reason, the
 * travellers' messages are queued; the same approved action twice refunds once; rejected, nothing.
 */
import { expect } from 'chai';
import { assessDeparture, assessDepartures, distanceKm, type DepartureRiskFacts, type IncidentFacts } from '../../agents/risk-manager/core';
import { cancelDeparture, riskFacts } from '../../agents/risk-manager/tools';
import { riskManager } from '../../agents/risk-manager';
import type { ToolContext } from '../../agents/types';
import { bookingLedger } from '../../models/ledger';
import { api, loginAs } from '../support/http';
import { hold, scenario, seats } from '../support/bookings';
import { stack } from '../support/stack';
import { agentRunFinished, pendingAgentApproval } from '../support/agents';

const NOW = new Date('2027-01-10T12:00:00.000Z');
const DAY = 86_400_000;
const at = (days: number) => new Date(+NOW + days * DAY).toISOString();

function dep(over: Partial<DepartureRiskFacts> = {}): DepartureRiskFacts {
  return {
    departureId: 'd1', tourCode: 'T-A', startsAt: at(10), endsAt: at(10.25), guaranteeDeadline: at(3), minPax: 8, capacity: 20,
    firmPax: 8, pendingPax: 0, bookings: 4, supplier: 'Acme', lat: 40.4168, lng: -3.7038, ...over,
  };
}
function incident(over: Partial<IncidentFacts> = {}): IncidentFacts {
  return { id: 'i1', kind: 'supplier', supplier: 'acme', lat: null, lng: null, radiusKm: null, from: at(9), to: at(11), ...over };
}

describe('RiskManager core', () => {
  it('scores the passenger shortfall by how near the guarantee deadline is', () => {
    // At the minimum: no risk.
    expect(assessDeparture(dep(), [], NOW)).to.deep.include({ score: 0, level: 'low', decision: 'go', reasons: [] });
    // 2 of 8, deadline 3 days ahead (within 7): 0.75 × 45 = 33.75 → 34.
    expect(assessDeparture(dep({ firmPax: 2, pendingPax: 1 }), [], NOW)).to.deep.include({
      score: 34, level: 'medium', decision: 'go', reasons: ['2 of the 8 passengers it needs with the guarantee deadline within 7 days (1 more not yet paid)'],
    });
    // Deadline 20 days ahead: 0.75 × 30 = 22.5 → 23.
    expect(assessDeparture(dep({ firmPax: 2, guaranteeDeadline: at(20) }), [], NOW)).to.deep.include({ score: 23, level: 'low', decision: 'go' });
    // Deadline passed below the minimum: a no-go whatever the score (7 of 8: 0.125 × 60 = 7.5 → 8).
    expect(assessDeparture(dep({ firmPax: 7, guaranteeDeadline: at(-1) }), [], NOW)).to.deep.include({
      score: 8, level: 'low', decision: 'no_go', reasons: ['7 of the 8 passengers it needs at its guarantee deadline'],
    });
    // No minimum: nothing to fall short of.
    expect(assessDeparture(dep({ minPax: null, firmPax: 0 }), [], NOW)).to.deep.include({ score: 0, decision: 'go' });
  });

  it('adds supplier failures over the departure and crises around its meeting point; 80 or more is a no-go', () => {
    const madridCrisis = incident({ id: 'c1', kind: 'crisis', supplier: null, lat: 40.45, lng: -3.70, radiusKm: 10 });
    const farCrisis = incident({ id: 'c2', kind: 'crisis', supplier: null, lat: 41.39, lng: 2.17, radiusKm: 50 }); // Barcelona
    const before = incident({ id: 'i0', from: at(1), to: at(2) }); // over before the trip
    const r = assessDeparture(dep(), [incident(), madridCrisis, farCrisis, before], NOW);
    expect(r).to.deep.include({ score: 80, level: 'high', decision: 'no_go', incidents: ['i1', 'c1'] });
    expect(r.reasons).to.deep.equal(['its operator Acme has reported a failure (incident i1)', 'its meeting point is inside a crisis area (incident c1)']);
    expect(assessDeparture(dep({ lat: null, lng: null }), [madridCrisis], NOW)).to.deep.include({ score: 0, decision: 'go' });
    expect(assessDeparture(dep({ firmPax: 0, guaranteeDeadline: at(20) }), [incident()], NOW)).to.deep.include({ score: 60, level: 'high', decision: 'go' });
    expect(Math.round(distanceKm(40.4168, -3.7038, 41.3874, 2.1686))).to.equal(505);
  });

  it('orders the riskiest first and proposes cancelling only the no-gos not already waiting for a decision', async () => {
    const facts = {
      departures: [
        dep({ departureId: 'ok' }), dep({ departureId: 'short', firmPax: 1, guaranteeDeadline: at(-0.5), bookings: 1 }), dep({ departureId: 'watch', firmPax: 4 }),
        dep({ departureId: 'asked', firmPax: 0, guaranteeDeadline: at(-1), bookings: 0, cancellationPending: true }),
      ],
      incidents: [],
    };
    expect(assessDepartures(facts.departures, [], NOW).map((r) => [r.departureId, r.score, r.decision])).to.deep.equal([
      ['asked', 60, 'no_go'], ['short', 53, 'no_go'], ['watch', 23, 'go'], ['ok', 0, 'go'],
    ]);
    const result = await riskManager.compute({ days: 14 }, { facts }, NOW);
    expect(result.output).to.deep.include({ assessed: 4, noGo: 2 });
    expect(result.actions).to.deep.equal([{
      tool: 'risk.cancelDeparture',
      input: { departureId: 'short', tourCode: 'T-A', startsAt: at(10), bookings: 1, reason: 'departure cancelled by the operator: 1 of the 8 passengers it needs at its guarantee deadline' },
      reason: 'no-go (risk 53): 1 of the 8 passengers it needs at its guarantee deadline',
    }]);
    expect(result.narrative).to.equal('4 departure(s) assessed: 1 at high risk, 2 no-go; cancelling 1 of them is proposed (each after approval), 1 already wait for a decision.');
  });
});

describe('RiskManager agent (no-go → approval → departure cancelled with full refunds)', function () {
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

  /** A departure 20 days out needing 6 passengers, its guarantee deadline passed, with two paid bookings (2 + 1) and a hold (1). */
  async function shortDeparture() {
    const s = await scenario({ daysAhead: 20, adultMinor: 10000, capacity: 10 });
    const { knex } = stack();
    await knex('tours').where({ id: s.tourId }).update({ min_departure_pax: 6 });
    await knex('departures').where({ id: s.departureId }).update({ guarantee_deadline: new Date(Date.now() - 3_600_000) });
    const paid = [];
    for (const adults of [2, 1]) {
      const b = await hold(customer, s.departureId, adults);
      const p = await api('POST', `/api/v1/bookings/${b.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
      expect(p.status, JSON.stringify(p.body)).to.equal(201);
      paid.push(b.id as string);
    }
    const held = (await hold(customer, s.departureId, 1)).id as string;
    const started = await api('POST', '/api/v1/agents/RiskManager/runs', { token: operator, body: { input: { departureId: s.departureId } } });
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    return { s, paid, held, runId: started.body.id as string };
  }

  it('cancels every booking with a full refund after approval, cancels the departure, tells the travellers; twice refunds once', async () => {
    const { s, paid, held, runId } = await shortDeparture();
    const approval = await pendingApproval(runId);
    expect(approval.branchId).to.equal(s.branchId);
    expect(approval.what).to.match(/^Cancel the TEST-[0-9A-F]+ departure of .*: every booking on it \(3 now\) is cancelled with a FULL refund of what was paid, whatever the cancellation policy, and each traveller is told by email\. Reason: departure cancelled by the operator: 3 of the 6 passengers it needs at its guarantee deadline \(1 more not yet paid\)$/);
    expect(await stack().knex('departures').where({ id: s.departureId }).first('status')).to.deep.equal({ status: 'scheduled' });

    const approved = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: admin, body: {} });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    const done = await finished(runId);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.output).to.deep.include({ assessed: 1, noGo: 1 });
    expect(done.output.departures[0]).to.deep.include({ departureId: s.departureId, decision: 'no_go', firmPax: 3, minPax: 6, bookings: 3 });
    const result = done.output.actions[0];
    expect(result).to.deep.include({ tool: 'risk.cancelDeparture', status: 'done' });
    expect(result.result).to.deep.include({ departureId: s.departureId, outcome: 'cancelled', departureStatus: 'cancelled' });
    const byId = Object.fromEntries(result.result.bookings.map((b: { bookingId: string; outcome: string; refundMinor: number }) => [b.bookingId, [b.outcome, b.refundMinor]]));
    expect(byId).to.deep.equal({ [paid[0]]: ['cancelled', 20000], [paid[1]]: ['cancelled', 10000], [held]: ['cancelled', 0] });

    const { knex } = stack();
    const departure = await knex('departures').where({ id: s.departureId }).first();
    expect(departure.status).to.equal('cancelled');
    expect(departure.cancellation_reason).to.equal('departure cancelled by the operator: 3 of the 6 passengers it needs at its guarantee deadline (1 more not yet paid)');
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    for (const id of [...paid, held]) {
      expect((await knex('bookings').where({ id }).first('status')).status).to.equal('cancelled');
      const ledger = await bookingLedger(knex, id);
      expect(ledger.capturedMinor - ledger.refundedMinor, id).to.equal(0);
      const messages = await knex('outbox_messages').where({ booking_id: id, template: 'booking_cancellation' });
      expect(messages, id).to.have.length(1);
      expect(messages[0].data).to.deep.include({ departureCancelled: true });
    }
    expect((await bookingLedger(knex, paid[0])).refundedMinor).to.equal(20000);
    const refunds = async () => Number((await knex('refunds').whereIn('booking_id', paid).count({ n: '*' }).first())!.n);
    const refundRows = await refunds();

    // The same approved action again (a retried call: the same step key) answers what it answered and refunds nothing.
    const [recorded] = await knex('agent_tool_outcomes').where({ run_id: runId, tool: 'risk.cancelDeparture' });
    const ctx = (stepKey: string): ToolContext => ({
      knex, runId, agent: 'RiskManager', stepKey, actor: 'agent:RiskManager', temporal: async () => stack().temporal, publicUrl: 'http://localhost', now: () => new Date(),
    });
    const input = cancelDeparture.input.parse(done.steps.find((x: { kind: string }) => x.kind === 'approval').input.input);
    expect(await cancelDeparture.run(ctx(recorded.step_key), input)).to.deep.equal(result.result);
    // Even as a new call, the departure has nothing left to cancel.
    const fresh = await cancelDeparture.run(ctx(`${recorded.step_key}-again`), input);
    expect(fresh).to.deep.equal({ departureId: s.departureId, outcome: 'cancelled', departureStatus: 'cancelled', bookings: [] });
    expect(await refunds()).to.equal(refundRows);
    for (const id of paid) {
      const ledger = await bookingLedger(knex, id);
      expect(ledger.capturedMinor - ledger.refundedMinor).to.equal(0);
      expect(ledger.refundedMinor).to.equal(ledger.capturedMinor);
    }
  });

  it('changes nothing when the cancellation is rejected', async () => {
    const { s, paid, held, runId } = await shortDeparture();
    const approval = await pendingApproval(runId);
    // Asked again while the proposal waits: assessed, not proposed twice.
    const second = await api('POST', '/api/v1/agents/RiskManager/runs', { token: operator, body: { input: { departureId: s.departureId } } });
    const again = await finished(second.body.id);
    expect(again.status).to.equal('completed');
    expect(again.output.noGo).to.equal(1);
    expect(again.output.actions).to.equal(undefined);
    expect(again.narrative).to.equal('1 departure(s) assessed: 0 at high risk, 1 no-go; cancelling 0 of them is proposed (each after approval), 1 already wait for a decision.');
    const rejected = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: admin, body: { reason: 'two more are about to book' } });
    expect(rejected.status, JSON.stringify(rejected.body)).to.equal(200);
    const done = await finished(runId);
    expect(done.output.actions).to.deep.equal([{ tool: 'risk.cancelDeparture', status: 'rejected' }]);
    const { knex } = stack();
    expect((await knex('departures').where({ id: s.departureId }).first()).status).to.equal('scheduled');
    expect(await seats(s.departureId)).to.deep.equal({ held: 1, sold: 3 });
    for (const id of paid) expect((await knex('bookings').where({ id }).first('status')).status).to.equal('paid_in_full');
    expect((await knex('bookings').where({ id: held }).first('status')).status).to.equal('held');
    expect(Number((await knex('refunds').whereIn('booking_id', paid).count({ n: '*' }).first())!.n)).to.equal(0);
  });

  it('on the demo catalog: a Toledo day trip needs 4 by two days before it starts, and is a no-go short of them after that', async () => {
    const { knex } = stack();
    const toledo = await knex('tours').where({ code: 'MAD-TOLEDO' }).first('id');
    const d = await knex('departures').where({ tour_id: toledo.id, status: 'scheduled' }).where('starts_at', '>', new Date(Date.now() + 3 * DAY)).orderBy('starts_at').first('id', 'starts_at');
    const facts = await riskFacts(knex, { departureId: d.id, days: 14 }, new Date());
    expect(facts.departures).to.have.length(1);
    const f = facts.departures[0];
    const startsAt = new Date(d.starts_at).toISOString();
    expect(f).to.deep.include({
      departureId: d.id, tourCode: 'MAD-TOLEDO', startsAt, endsAt: new Date(+d.starts_at + 8 * 3_600_000).toISOString(),
      guaranteeDeadline: new Date(+d.starts_at - 2 * DAY).toISOString(), minPax: 4, capacity: 35, supplier: 'Autocares Castilla', lat: 39.8628, lng: -4.0273,
    });
    const firm = f.firmPax;
    const afterDeadline = new Date(+d.starts_at - 2 * DAY + 60_000);
    const r = assessDeparture(f, [], afterDeadline);
    if (firm < 4) expect(r).to.deep.include({ score: Math.round(((4 - firm) / 4) * 60), decision: 'no_go' });
    else expect(r).to.deep.include({ score: 0, decision: 'go' });
    // A week before the deadline it is only watched.
    expect(assessDeparture(f, [], new Date(+d.starts_at - 9 * DAY)).decision).to.equal('go');
  });

  it('is periodic (every day) and its schedule can be paused', async () => {
    const res = await api('GET', '/api/v1/agents/RiskManager', { token: operator });
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.include({ available: true, audience: 'operations' });
    expect(res.body.trigger).to.include({ kind: 'schedule', every: '1 day' });
    expect(res.body.tools.map((t: { name: string; effect: string; needsApproval: boolean }) => [t.name, t.effect, t.needsApproval])).to.deep.equal([
      ['risk.departureFacts', 'read', false], ['risk.cancelDeparture', 'act', true],
    ]);
    const paused = await api('POST', '/api/v1/agents/RiskManager/schedule/pause', { token: operator, body: { note: 'test' } });
    expect(paused.status, JSON.stringify(paused.body)).to.equal(200);
    expect(paused.body.paused).to.equal(true);
  });

  it('says go, and proposes nothing, for a departure at its minimum', async () => {
    const s = await scenario({ daysAhead: 15, adultMinor: 10000 });
    const { knex } = stack();
    await knex('tours').where({ id: s.tourId }).update({ min_departure_pax: 2 });
    await knex('departures').where({ id: s.departureId }).update({ guarantee_deadline: new Date(Date.now() - 60_000) });
    const b = await hold(customer, s.departureId, 2);
    await api('POST', `/api/v1/bookings/${b.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
    const started = await api('POST', '/api/v1/agents/RiskManager/runs', { token: operator, body: { input: { departureId: s.departureId } } });
    const done = await finished(started.body.id);
    expect(done.status).to.equal('completed');
    expect(done.output).to.deep.equal({
      assessed: 1, noGo: 0,
      departures: [{ departureId: s.departureId, tourCode: done.output.departures[0].tourCode, startsAt: s.departureAt.toISOString(), score: 0, level: 'low', decision: 'go', reasons: [], firmPax: 2, minPax: 2, bookings: 1, incidents: [] }],
    });
  });
});
