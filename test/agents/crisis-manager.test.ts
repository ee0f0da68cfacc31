/**
 * CrisisManager: its core (distances, time overlap, who counts) with exact expectations, and the
 * agent end to end on the demo catalog: POST /api/v1/agents/CrisisManager/runs → the notice
 * waits for an operator (or its short timeout) → one message per traveller there, each with its
 * own acknowledgement link → acknowledgements recorded (idempotent; a bad token is a 404) → the
 * silent escalated to the operators after the configured delay. The notify tool is exactly-once.
 */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { stack } from '../support/stack';
import { haversineKm, incidentWindow, latitudeBand, overlaps, planCrisis, selectTravellers, type Candidate, type CrisisInput } from '../../agents/crisis-manager/core';
import { notifyTravellers } from '../../agents/crisis-manager/tools';
import { startAgentRun } from '../../services/agent-runs';
import type { ToolContext } from '../../agents/types';
import { agentRunFinished, pendingAgentApproval } from '../support/agents';

const R = 6371;

describe('CrisisManager core', () => {
  it('measures great-circle distances exactly (haversine, mean Earth radius 6371 km)', () => {
    expect(haversineKm(0, 0, 0, 1)).to.be.closeTo((R * Math.PI) / 180, 1e-9); // 111.19492664455873
    expect(haversineKm(0, 0, 1, 0)).to.be.closeTo((R * Math.PI) / 180, 1e-9);
    expect(haversineKm(0, 0, 90, 0)).to.be.closeTo((R * Math.PI) / 2, 1e-9); // 10007.543398010286
    expect(haversineKm(0, 0, 0, 180)).to.be.closeTo(R * Math.PI, 1e-9); // antipodes: 20015.086796020572
    expect(haversineKm(10, 179.5, 10, -179.5)).to.be.closeTo(haversineKm(10, -0.5, 10, 0.5), 1e-9); // across the antimeridian
    expect(haversineKm(40.4169, -3.7035, 40.4169, -3.7035)).to.equal(0);
    // Madrid, Puerta del Sol → the demo tours' meeting points.
    expect(haversineKm(40.4169, -3.7035, 40.4138, -3.6921)).to.be.closeTo(1.0248, 0.0005); // MAD-PRADO
    expect(haversineKm(40.4169, -3.7035, 40.4153, -3.7074)).to.be.closeTo(0.3751, 0.0005); // MAD-TAPAS
    expect(haversineKm(40.4169, -3.7035, 39.8628, -4.0273)).to.be.closeTo(67.48, 0.01); // MAD-TOLEDO
  });

  it('pre-filters by a latitude band never narrower than the radius', () => {
    const band = latitudeBand(0, (R * Math.PI) / 180);
    expect(band.min).to.be.closeTo(-1, 1e-5);
    expect(band.max).to.be.closeTo(1, 1e-5);
    expect(band.min).to.be.below(-1);
    expect(latitudeBand(89.9, 100)).to.deep.include({ max: 90 });
  });

  it('reads a date-only window as whole days (UTC)', () => {
    expect(incidentWindow({ from: '2027-01-01', to: '2027-01-01' })).to.deep.equal({ from: '2027-01-01T00:00:00.000Z', to: '2027-01-02T00:00:00.000Z' });
    expect(incidentWindow({ from: '2027-01-01T10:00:00+02:00', to: '2027-01-03' })).to.deep.equal({ from: '2027-01-01T08:00:00.000Z', to: '2027-01-04T00:00:00.000Z' });
  });

  it('overlaps half-open intervals: touching ends do not overlap', () => {
    expect(overlaps(0, 10, 10, 20)).to.equal(false);
    expect(overlaps(10, 20, 0, 10)).to.equal(false);
    expect(overlaps(0, 10, 9, 20)).to.equal(true);
    expect(overlaps(0, 100, 10, 20)).to.equal(true);
    expect(overlaps(10, 20, 0, 100)).to.equal(true);
  });

  const input: CrisisInput = { incidentId: 'unit', lat: 0, lng: 0, radiusKm: haversineKm(0, 0, 0, 1), from: '2027-01-01T10:00:00.000Z', to: '2027-01-01T12:00:00.000Z', message: 'm' };
  const c = (ref: string, over: Partial<Candidate> = {}): Candidate => ({
    bookingId: `id-${ref}`, reference: ref, status: 'confirmed', departureId: 'd', departureStatus: 'scheduled', tourCode: 'T',
    startsAt: '2027-01-01T09:00:00.000Z', endsAt: '2027-01-01T11:00:00.000Z', lat: 0, lng: 0.5, contactName: ref, email: `${ref}@x.test`, phone: null, ...over,
  });

  it('keeps exactly the bookings that count, within the radius (boundary included) and the time, nearest first', () => {
    const { travellers, excluded } = selectTravellers(input, [
      c('EDGE', { lng: 1 }), // exactly at the radius: in
      c('NEAR', { lng: 0.5 }),
      c('PAID', { status: 'paid_in_full', lat: 0.1, lng: 0 }),
      c('ONTRIP', { status: 'in_progress', lat: -0.25, lng: 0 }),
      c('PHONE', { email: null, phone: '+34600000000', lng: 0.75 }),
      c('FAR', { lng: 1.0001 }),
      c('HELD', { status: 'held' }),
      c('CANC', { status: 'cancelled' }),
      c('DEPCANC', { departureStatus: 'cancelled' }),
      c('BEFORE', { startsAt: '2027-01-01T08:00:00.000Z', endsAt: '2027-01-01T10:00:00.000Z' }), // ends as the incident starts
      c('AFTER', { startsAt: '2027-01-01T12:00:00.000Z', endsAt: '2027-01-01T13:00:00.000Z' }), // starts as it ends
      c('NOCOORD', { lat: null, lng: null }),
      c('NOBODY', { email: null, phone: null }),
      c('NEAR'), // the same booking twice (two rows): once
    ]);
    expect(travellers.map((t) => [t.reference, t.distanceKm, t.channel])).to.deep.equal([
      ['PAID', 11.119, 'email'], ['ONTRIP', 27.799, 'email'], ['NEAR', 55.597, 'email'], ['PHONE', 83.396, 'whatsapp'], ['EDGE', 111.195, 'email'],
    ]);
    expect(excluded.map((e) => [e.reference, e.why])).to.deep.equal([
      ['FAR', '111.2 km away'], ['HELD', 'booking is held'], ['CANC', 'booking is cancelled'], ['DEPCANC', 'departure is cancelled'],
      ['BEFORE', 'departure is outside the incident\'s time'], ['AFTER', 'departure is outside the incident\'s time'],
      ['NOCOORD', 'the tour has no coordinates'], ['NOBODY', 'no email or phone to reach'],
    ]);
  });

  it('proposes the notice (approval) and the escalation after the delay; nothing when nobody is there', () => {
    const plan = planCrisis(input, [c('NEAR'), c('FAR', { lng: 2 })], 7_200_000);
    expect(plan.actions).to.deep.equal([
      { tool: 'crisis.notifyTravellers', input: { incidentId: 'unit', message: 'm', bookingIds: ['id-NEAR'] }, reason: `1 booking(s) within ${input.radiusKm} km of the incident during its time` },
      { tool: 'crisis.escalateSilent', input: { incidentId: 'unit' }, reason: 'tell the operators who has not acknowledged 120 minute(s) after the notice', delayMs: 7_200_000 },
    ]);
    expect(plan.output.escalateAfterMs).to.equal(7_200_000);
    const none = planCrisis(input, [c('FAR', { lng: 2 })], 1000);
    expect(none.actions).to.deep.equal([]);
    expect(none.output.travellers).to.deep.equal([]);
  });
});

describe('CrisisManager (end to end)', function () {
  this.timeout(120_000);
  let operator: string;
  const ids: Record<string, string> = {};
  const saved = { ...process.env };
  const SOL = { lat: 40.4169, lng: -3.7035 };
  let window: { from: string; to: string };

  const departure = async (code: string, nth: number) => {
    const rows = await stack().knex('departures as d').join('tours as t', 't.id', 'd.tour_id').where('t.code', code).orderBy('d.starts_at').select('d.id', 'd.starts_at', 't.branch_id');
    return rows[nth];
  };

  before(async () => {
    operator = await loginAs('operator');
    const knex = stack().knex;
    const customer = await knex('customers').where({ email: 'lucia.martin@example.com' }).first('id');
    const prado1 = await departure('MAD-PRADO', 0); // day 1, 10:00 Madrid, 3 h
    const prado2 = await departure('MAD-PRADO', 1); // day 3
    const tapas1 = await departure('MAD-TAPAS', 0); // day 1, 19:30, 3 h
    const toledo1 = await departure('MAD-TOLEDO', 0); // day 1, 09:00, 8 h: in time, 68 km away
    expect(new Date(prado1.starts_at).toISOString().slice(0, 10)).to.equal(new Date(tapas1.starts_at).toISOString().slice(0, 10));
    window = { from: new Date(new Date(prado1.starts_at).getTime() - 3_600_000).toISOString(), to: new Date(new Date(tapas1.starts_at).getTime() + 3_600_000).toISOString() };
    const book = async (ref: string, dep: { id: string; branch_id: string }, status: string) => {
      const [row] = await knex('bookings').insert({
        reference: ref, departure_id: dep.id, branch_id: dep.branch_id, customer_id: customer.id, status, pax_count: 2, currency: 'EUR', total_minor: 11800, net_minor: 11800,
        contact: JSON.stringify({ name: `Traveller ${ref}`, email: `${ref.toLowerCase()}@crisis.test`, phone: '+34600999000' }), language: ref === 'CRI-B' ? 'es' : 'en',
        // Rows only (no seats held or sold): marked as having a workflow, so the hold-start relay leaves them alone.
        workflow_started_at: new Date(),
      }).returning('id');
      ids[ref] = row.id;
    };
    await book('CRI-A', prado1, 'confirmed'); // in: 1.0 km, in time
    await book('CRI-B', tapas1, 'paid_in_full'); // in: 0.4 km
    await book('CRI-H', tapas1, 'confirmed'); // in: will stay silent
    await book('CRI-TOL', toledo1, 'confirmed'); // out: 68 km
    await book('CRI-LATER', prado2, 'confirmed'); // out: two days later
    await book('CRI-HELD', tapas1, 'held'); // out: not a traveller yet
    await book('CRI-CANC', prado1, 'cancelled'); // out
  });
  afterEach(() => {
    for (const k of ['CRISIS_ESCALATE_SILENT_AFTER_MS', 'CRISIS_APPROVAL_TIMEOUT_MINUTES']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  const incident = (incidentId: string) => ({ incidentId, ...SOL, radiusKm: 5, ...window, message: 'A demonstration near Puerta del Sol: avoid the centre and follow your guide.' });
  const start = async (incidentId: string) => {
    const res = await api('POST', '/api/v1/agents/CrisisManager/runs', { token: operator, body: { input: incident(incidentId) } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.id as string;
  };
  const pendingApproval = (runId: string) => pendingAgentApproval(runId, operator);
  const finished = (runId: string, timeoutMs = 60_000) => agentRunFinished(runId, operator, timeoutMs);
  const notices = (incidentId: string) => stack().knex('outbox_messages').where({ template: 'crisis_alert' }).whereLike('dedupe_key', `crisis-${incidentId}/%`).orderBy('recipient');
  const tokenOf = (row: { data: { ack_url: string } }) => row.data.ack_url.split('/a/')[1];

  it('exposes the tours\' coordinates in the catalog', async () => {
    const tour = await stack().knex('tours').where({ code: 'MAD-PRADO' }).first('id');
    const res = await api('GET', `/api/v1/tours/${tour.id}`);
    expect(res.status).to.equal(200);
    expect(res.body.meetingPoint).to.deep.include({ lat: 40.4138, lng: -3.6921 });
  });

  it('refuses an input that is not an incident (422)', async () => {
    const res = await api('POST', '/api/v1/agents/CrisisManager/runs', { token: operator, body: { input: { ...incident('bad'), to: window.from, from: window.to } } });
    expect(res.status).to.equal(422);
    const extra = await api('POST', '/api/v1/agents/CrisisManager/runs', { token: operator, body: { input: { ...incident('bad'), kind: 'crisis' } } });
    expect(extra.status).to.equal(422);
  });

  it('tells exactly the travellers there once each after approval, records their acknowledgements, and escalates only the silent', async () => {
    process.env.CRISIS_ESCALATE_SILENT_AFTER_MS = '15000';
    process.env.CRISIS_APPROVAL_TIMEOUT_MINUTES = '60';
    const incidentId = 'sol-1';
    const runId = await start(incidentId);
    const approval = await pendingApproval(runId);
    expect(approval.what).to.match(/^Send the crisis notice of incident sol-1 to 3 traveller\(s\) \(one message per booking, each with its own acknowledgement link\)/);
    expect(approval.onExpiry).to.equal('approve');
    expect(Date.parse(approval.expiresAt) - Date.parse(approval.requestedAt)).to.be.closeTo(3_600_000, 60_000);
    expect(await notices(incidentId)).to.have.length(0);

    const approved = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: operator, body: {} });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    const sent = await eventually(async () => { const rows = await notices(incidentId); return rows.length === 3 && rows; });
    expect(sent.map((r) => r.recipient)).to.deep.equal(['cri-a@crisis.test', 'cri-b@crisis.test', 'cri-h@crisis.test']);
    expect(sent.map((r) => r.language)).to.deep.equal(['en', 'es', 'en']);
    const tokens = sent.map(tokenOf);
    expect(new Set(tokens).size).to.equal(3);
    for (const t of tokens) expect(t).to.match(/^[A-Za-z0-9_-]{43}$/);
    const rows = await stack().knex('crisis_notifications').where({ incident_id: incidentId });
    expect(rows.map((r) => r.booking_id).sort()).to.deep.equal([ids['CRI-A'], ids['CRI-B'], ids['CRI-H']].sort());
    expect(rows.every((r) => !tokens.includes(r.token_hash))).to.equal(true); // only hashes are stored

    const [tokA, tokB] = tokens;
    // A GET shows the page and changes nothing (mail scanners open links).
    const page = await api('GET', `/a/${tokA}`);
    expect(page.status).to.equal(200);
    expect(page.body).to.include('I have read this').and.include('avoid the centre');
    expect((await stack().knex('crisis_notifications').where({ booking_id: ids['CRI-A'], incident_id: incidentId }).first()).acknowledged_at).to.equal(null);
    const ackA = await api('POST', `/a/${tokA}`, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, raw: '' });
    expect(ackA.status).to.equal(200);
    expect(ackA.body).to.include('we know you received this notice');
    const b1 = await api('POST', `/api/v1/crisis/acks/${tokB}`);
    expect(b1.status, JSON.stringify(b1.body)).to.equal(200);
    expect(b1.body).to.deep.include({ incidentId, reference: 'CRI-B', first: true });
    const b2 = await api('POST', `/api/v1/crisis/acks/${tokB}`);
    expect(b2.status).to.equal(200);
    expect(b2.body).to.deep.include({ first: false, acknowledgedAt: b1.body.acknowledgedAt });
    expect((await api('GET', `/a/${tokB}`)).body).to.include('Ya nos confirmaste');
    const bad = await api('POST', `/api/v1/crisis/acks/${'x'.repeat(43)}`);
    expect(bad.status).to.equal(404);
    expect(bad.headers.get('content-type')).to.include('problem+json');
    expect((await api('GET', `/a/${'y'.repeat(43)}`)).status).to.equal(404);
    expect((await api('POST', '/a/short')).status).to.equal(404);

    const done = await finished(runId);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    // Nearest first: B and H meet at 0.38 km (by reference), A at 1.02 km; the others are not there.
    expect(done.output.travellers.map((t: { reference: string }) => t.reference)).to.deep.equal(['CRI-B', 'CRI-H', 'CRI-A']);
    expect(done.output.excluded).to.deep.equal([]);
    expect(done.output.actions).to.have.length(2);
    expect(done.output.actions[0]).to.deep.equal({ tool: 'crisis.notifyTravellers', status: 'done', result: { incidentId, notified: 3, alreadyNotified: 0, unreachable: 0 } });
    expect(done.output.actions[1]).to.deep.include({ tool: 'crisis.escalateSilent', status: 'done' });
    expect(done.output.actions[1].result).to.deep.include({ incidentId, notified: 3, silent: 1, operators: 2, references: ['CRI-H'] });
    expect(done.steps.map((s: { kind: string; name: string }) => `${s.kind}:${s.name}`)).to.deep.equal([
      'tool:crisis.findCandidates', 'core:CrisisManager', 'approval:crisis.notifyTravellers', 'tool:crisis.notifyTravellers', 'wait:crisis.escalateSilent', 'tool:crisis.escalateSilent',
    ]);

    const escalations = await stack().knex('crisis_escalations').where({ incident_id: incidentId });
    expect(escalations).to.have.length(1);
    expect(escalations[0].silent.map((s: { reference: string }) => s.reference)).to.deep.equal(['CRI-H']);
    expect(escalations[0].recipients).to.deep.equal(['admin@demo.test', 'operator@demo.test']);
    const alerts = await stack().knex('outbox_messages').where({ template: 'crisis_escalation' }).whereLike('dedupe_key', `crisis-escalation-${escalations[0].id}/%`).orderBy('recipient');
    expect(alerts.map((a) => a.recipient)).to.deep.equal(['admin@demo.test', 'operator@demo.test']);
    expect(alerts[0].data.silent_list).to.include('CRI-H').and.not.include('CRI-A');

    const view = await api('GET', `/api/v1/crisis/incidents/${incidentId}`, { token: operator });
    expect(view.status).to.equal(200);
    expect(view.body).to.deep.include({ notified: 3, acknowledged: 2 });
    expect(view.body.notices.map((n: { reference: string; escalatedAt: string | null }) => [n.reference, n.escalatedAt !== null])).to.deep.equal([['CRI-A', false], ['CRI-B', false], ['CRI-H', true]]);
    expect((await api('GET', `/api/v1/crisis/incidents/${incidentId}`, { token: await loginAs('marketer') })).status).to.equal(403);

    // The messages really render and go out through the dispatcher.
    await eventually(async () => {
      const st = await stack().knex('outbox_messages').whereIn('id', [...sent, ...alerts].map((r) => r.id)).pluck('status');
      return st.every((s) => s === 'sent');
    }, 30_000);
  });

  it('sends nothing when the operator rejects the notice', async () => {
    process.env.CRISIS_ESCALATE_SILENT_AFTER_MS = '500';
    const incidentId = 'sol-rejected';
    const runId = await start(incidentId);
    const approval = await pendingApproval(runId);
    const rejected = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: { reason: 'false alarm' } });
    expect(rejected.status, JSON.stringify(rejected.body)).to.equal(200);
    const done = await finished(runId);
    expect(done.status).to.equal('completed');
    expect(done.output.actions[0]).to.deep.equal({ tool: 'crisis.notifyTravellers', status: 'rejected' });
    expect(done.output.actions[1].result).to.deep.include({ notified: 0, silent: 0, operators: 0 });
    expect(await notices(incidentId)).to.have.length(0);
    expect(await stack().knex('crisis_notifications').where({ incident_id: incidentId })).to.have.length(0);
    expect(await stack().knex('crisis_escalations').where({ incident_id: incidentId })).to.have.length(0);
  });

  it('sends the notice when nobody decides in time (urgent: the default is approve), then escalates everyone silent', async () => {
    process.env.CRISIS_APPROVAL_TIMEOUT_MINUTES = '0.05'; // 3 s
    process.env.CRISIS_ESCALATE_SILENT_AFTER_MS = '1000';
    const incidentId = 'sol-nobody';
    const runId = await start(incidentId);
    const done = await finished(runId);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    const approvalStep = done.steps.find((s: { kind: string }) => s.kind === 'approval');
    expect(approvalStep.output).to.deep.include({ decision: 'expired', runs: true });
    expect(await notices(incidentId)).to.have.length(3);
    expect(done.output.actions[1].result).to.deep.include({ silent: 3, references: ['CRI-A', 'CRI-B', 'CRI-H'] });
  });

  it('one run per incident however often the trigger fires', async () => {
    process.env.CRISIS_APPROVAL_TIMEOUT_MINUTES = '60';
    process.env.CRISIS_ESCALATE_SILENT_AFTER_MS = '500';
    const input = incident('sol-twice');
    const first = await startAgentRun(stack().temporal, stack().knex, { agent: 'CrisisManager', input, occasion: `incident-${input.incidentId}`, trigger: 'event' });
    const second = await startAgentRun(stack().temporal, stack().knex, { agent: 'CrisisManager', input, occasion: `incident-${input.incidentId}`, trigger: 'event' });
    expect(first).to.deep.include({ started: true });
    expect(second).to.deep.equal({ runId: first.runId, started: false });
    expect(first.runId).to.match(/agent-CrisisManager-incident-sol-twice$/);
    const approval = await pendingApproval(first.runId);
    await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: { reason: 'test over' } });
    await finished(first.runId);
  });

  it('never messages twice: a retried notify answers its first outcome, and a crash after sending sends nothing more', async () => {
    const knex = stack().knex;
    const ctx = (stepKey: string): ToolContext => ({
      knex, runId: 'agent-CrisisManager-test', agent: 'CrisisManager', stepKey, actor: 'agent:CrisisManager', temporal: async () => stack().temporal,
      publicUrl: 'https://spirit.example', now: () => new Date(),
    });
    const input = { incidentId: 'sol-retry', message: 'Stay in your hotel.', bookingIds: [ids['CRI-A'], ids['CRI-H']] };
    const first = await notifyTravellers.run(ctx('crisis-test/action-0'), input);
    expect(first).to.deep.equal({ incidentId: 'sol-retry', notified: 2, alreadyNotified: 0, unreachable: 0 });
    const retried = await notifyTravellers.run(ctx('crisis-test/action-0'), input);
    expect(retried).to.deep.equal(first);
    // The first attempt sent but died before its outcome was recorded: the unique keys hold.
    await knex('agent_tool_outcomes').where({ step_key: 'crisis-test/action-0' }).delete();
    const afterCrash = await notifyTravellers.run(ctx('crisis-test/action-0'), input);
    expect(afterCrash).to.deep.equal({ incidentId: 'sol-retry', notified: 0, alreadyNotified: 2, unreachable: 0 });
    // Another run for the same incident (another step key) adds only who was not told yet.
    const more = await notifyTravellers.run(ctx('crisis-test-2/action-0'), { ...input, bookingIds: [ids['CRI-A'], ids['CRI-B']] });
    expect(more).to.deep.equal({ incidentId: 'sol-retry', notified: 1, alreadyNotified: 1, unreachable: 0 });
    // A booking that no longer exists (or has no address) is reported, not retried.
    const unknown = await notifyTravellers.run(ctx('crisis-test-3/action-0'), { ...input, bookingIds: [ids['CRI-A'], '00000000-0000-4000-8000-000000000000'] });
    expect(unknown).to.deep.equal({ incidentId: 'sol-retry', notified: 0, alreadyNotified: 1, unreachable: 1 });
    const rows = await notices('sol-retry');
    expect(rows.map((r) => r.recipient)).to.deep.equal(['cri-a@crisis.test', 'cri-b@crisis.test', 'cri-h@crisis.test']);
    expect(rows[0].data.ack_url).to.match(/^https:\/\/spirit\.example\/a\/[A-Za-z0-9_-]{43}$/);
    expect(await knex('crisis_notifications').where({ incident_id: 'sol-retry' })).to.have.length(3);
  });
});
