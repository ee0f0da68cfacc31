/**
 * BookingOptimizer: the core (funnel by tour and channel, experiments, who to recover) with exact
 * numbers, and the agent on seeded bookings through the API: exact funnel, one approval naming
 * exactly who will be messaged (only those with email consent who did not book again), the
 * abandoned-booking automation fired once per booking, and again zero times when its tool is retried.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { experiments, funnel, toRecover, type FunnelGroup } from '../../agents/booking-optimizer/core';
import { recoverTool } from '../../agents/booking-optimizer/tools';
import { newReference } from '../../models/holds';
import { api, loginAs } from '../support/http';
import { eventually, scenario } from '../support/bookings';
import { stack } from '../support/stack';

describe('BookingOptimizer core', () => {
  const groups: FunnelGroup[] = [
    { tourCode: 'B', channel: 'web', holds: 10, paid: 4, completed: 1, expired: 5 },
    { tourCode: 'B', channel: 'partner', holds: 5, paid: 4, completed: 0, expired: 1 },
    { tourCode: 'B', channel: 'staff', holds: 2, paid: 0, completed: 0, expired: 1 },
    { tourCode: 'A', channel: 'web', holds: 6, paid: 5, completed: 2, expired: 1 },
  ];

  it('counts the funnel by tour, channel and both, with rates in basis points', () => {
    const f = funnel(groups);
    expect(f.total).to.deep.equal({ holds: 23, paid: 13, completed: 3, expired: 8, holdToPaidBp: 5652, paidToCompletedBp: 2308, holdToCompletedBp: 1304 });
    expect(f.byTour).to.deep.equal([
      { tourCode: 'A', holds: 6, paid: 5, completed: 2, expired: 1, holdToPaidBp: 8333, paidToCompletedBp: 4000, holdToCompletedBp: 3333 },
      { tourCode: 'B', holds: 17, paid: 8, completed: 1, expired: 7, holdToPaidBp: 4706, paidToCompletedBp: 1250, holdToCompletedBp: 588 },
    ]);
    expect(f.byChannel.map((c) => [c.channel, c.holds, c.paid, c.holdToPaidBp])).to.deep.equal([['partner', 5, 4, 8000], ['staff', 2, 0, 0], ['web', 16, 9, 5625]]);
    expect(f.byTourAndChannel.map((r) => `${r.tourCode}/${r.channel}`)).to.deep.equal(['A/web', 'B/partner', 'B/staff', 'B/web']);
    expect(f.byTourAndChannel[2].paidToCompletedBp).to.equal(null);
  });

  it('suggests experiments where the funnel leaks (suggestions, not actions)', () => {
    expect(experiments(funnel(groups))).to.deep.equal([{
      tourCode: 'B', channel: null, finding: 'B loses 53% between hold and payment (9 of 17 holds never paid)',
      suggestion: 'try a shorter payment form, a deposit option, or a longer hold with a reminder before it lapses',
    }]);
    const leakyWeb = funnel([{ tourCode: 'C', channel: 'web', holds: 10, paid: 3, completed: 0, expired: 7 }, { tourCode: 'C', channel: 'partner', holds: 10, paid: 9, completed: 0, expired: 1 }]);
    expect(experiments(leakyWeb).map((e) => e.finding)).to.deep.equal(['C via web converts 30% of holds against 60% for the tour']);
  });

  it('recovers only the mailable, not yet enrolled, who did not book again', () => {
    const a = (reference: string, sendable: boolean, enrolled: boolean, rebooked: boolean) => ({ bookingId: reference, reference, tourCode: 'T', email: `${reference}@x.test`, sendable, enrolled, rebooked });
    expect(toRecover([a('R4', true, false, false), a('R1', true, false, false), a('R2', false, false, false), a('R3', true, true, false), a('R5', true, false, true)]).map((b) => b.reference))
      .to.deep.equal(['R1', 'R4']);
  });
});

describe('BookingOptimizer (agent, through the API)', function () {
  this.timeout(90_000);
  let operator: string;
  let marketer: string;

  before(async () => {
    [operator, marketer] = await Promise.all([loginAs('operator'), loginAs('marketer')]);
  });

  /**
   * One tour's bookings: web 10 holds (completed, paid in full, confirmed, a paid-then-cancelled,
   * 5 expired, 1 still held), partner 5 (4 confirmed on account, 1 expired), staff 2 (1 expired,
   * 1 failed). Of the 7 expired: a1, a2 and s1 may be mailed; a3 has no consent, a4 no contact,
   * a5 booked again (the confirmed one), p1 no contact.
   */
  async function seeded() {
    const { knex } = stack();
    const s = await scenario({ daysAhead: 40 });
    const code = (await knex('tours').where({ id: s.tourId }).first('code')).code as string;
    const tag = crypto.randomBytes(3).toString('hex');
    const email = (name: string) => `${name}.${tag}@example.com`;
    const [customer] = await knex('customers').insert({ first_name: 'Test', last_name: tag, email: email('buyer'), language: 'en' }).returning('id');
    // An agency of its own: bookings on account here must not use up the demo agency's credit line other tests book on.
    const branch = await knex('branches').where({ id: s.branchId }).first('id', 'currency');
    const [partner] = await knex('partners').insert({
      code: `OPT-${tag}`, name: `Optimizer test agency ${tag}`, kind: 'travel_agency', branch_id: branch.id, commission_bp: 1000,
      payment_terms_days: 0, statement_period: 'monthly', currency: branch.currency,
    }).returning('id');
    const staff = await knex('users').where({ email: 'operator@demo.test' }).first('id');
    const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000);
    const ids: Record<string, string> = {};
    const book = async (key: string, status: string, o: { paid?: number; refunded?: number; who?: string; channel?: 'web' | 'partner' | 'staff'; createdDaysAgo?: number } = {}) => {
      const [row] = await knex('bookings').insert({
        reference: newReference(), departure_id: s.departureId, branch_id: s.branchId, status, pax_count: 1, currency: 'EUR',
        customer_id: o.channel === 'partner' ? null : customer.id, partner_id: o.channel === 'partner' ? partner.id : null,
        created_by_user_id: o.channel === 'staff' ? staff.id : null, payment_plan: o.channel === 'partner' ? 'on_account' : 'full',
        total_minor: 10000, net_minor: 10000, amount_paid_minor: o.paid ?? 0, amount_refunded_minor: o.refunded ?? 0,
        contact: JSON.stringify({ name: 'Test Person', email: email(o.who ?? key) }), language: 'en',
        hold_expires_at: daysAgo((o.createdDaysAgo ?? 3) - 0.01), created_at: daysAgo(o.createdDaysAgo ?? 3), workflow_started_at: new Date(),
      }).returning(['id', 'reference']);
      ids[key] = row.id;
      // A hold holds its seat, as placeHold would have done: whatever later ends it releases one.
      if (status === 'held') await knex('departures').where({ id: s.departureId }).increment('seats_held', 1);
      return row;
    };
    await book('completed', 'completed', { paid: 10000, createdDaysAgo: 2 });
    await book('paidInFull', 'paid_in_full', { paid: 10000, createdDaysAgo: 2 });
    await book('confirmed', 'confirmed', { paid: 3000, who: 'a5', createdDaysAgo: 2 });
    await book('cancelled', 'cancelled', { paid: 10000, refunded: 10000, createdDaysAgo: 2 });
    for (const k of ['a1', 'a2', 'a3', 'a4', 'a5']) await book(k, 'expired');
    await book('held', 'held', { createdDaysAgo: 0 });
    for (let i = 0; i < 4; i++) await book(`pc${i}`, 'confirmed', { channel: 'partner' });
    await book('p1', 'expired', { channel: 'partner' });
    await book('s1', 'expired', { channel: 'staff' });
    await book('s2', 'failed', { channel: 'staff' });
    const contact = async (who: string, consent: boolean) => {
      const [c] = await knex('contacts').insert({ email: email(who), source: 'customer', language: 'en' }).returning('id');
      if (consent) await knex('contact_consents').insert({ contact_id: c.id, channel: 'email', status: 'granted', source: 'test' });
      return c.id as string;
    };
    const contacts = { a1: await contact('a1', true), a2: await contact('a2', true), a3: await contact('a3', false), a5: await contact('a5', true), s1: await contact('s1', true) };
    // Customer-linked bookings find their contact by email only when the customer has none: give the customer none.
    const references = Object.fromEntries(await Promise.all(Object.entries(ids).map(async ([k, id]) => [k, (await knex('bookings').where({ id }).first('reference')).reference])));
    const [automation] = await knex('automations').insert({ name: `Abandoned booking ${tag}`, trigger: 'hold_expired', steps: JSON.stringify([{ wait: { hours: 48 } }]), status: 'active' }).returning(['id', 'name']);
    return { ...s, code, ids, references, contacts, automation, email };
  }

  const runOf = async (id: string) => (await api('GET', `/api/v1/agent-runs/${encodeURIComponent(id)}`, { token: operator })).body;
  const finished = (id: string) => eventually(async () => {
    const r = await runOf(id);
    return ['completed', 'failed'].includes(r.status) && r;
  }, 30_000);

  it('counts the funnel exactly, asks once to message exactly the recoverable, and fires the automation once per booking', async () => {
    const d = await seeded();
    const { knex, temporal } = stack();
    try {
      const started = await api('POST', '/api/v1/agents/BookingOptimizer/runs', { token: marketer, body: { input: { tourCodes: [d.code] } } });
      expect(started.status, JSON.stringify(started.body)).to.equal(202);
      const approval = await eventually(async () => {
        const list = await api('GET', '/api/v1/approvals?status=pending&kind=agent_action&limit=100', { token: operator });
        return list.body.data.find((a: { agentRunId: string }) => a.agentRunId === started.body.id);
      }, 30_000);
      expect((await runOf(started.body.id)).status).to.equal('waiting_approval');
      const recoverable = ['a1', 'a2', 's1'].map((k) => ({ k, ref: d.references[k] })).sort((x, y) => x.ref.localeCompare(y.ref));
      expect(approval.what).to.equal([
        `Enroll 3 people whose hold lapsed in the abandoned-booking automation "${d.automation.name}", which will email them; once per booking, and only those who still consent to email:`,
        ...recoverable.map(({ k, ref }) => `- ${d.email(k)} (${ref}, ${d.code})`),
      ].join('\n'));

      // s1 withdraws consent before anyone decides: they are not messaged.
      await knex('contact_consents').where({ contact_id: d.contacts.s1, channel: 'email' }).update({ status: 'withdrawn' });
      const approved = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: operator, body: {} });
      expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
      const done = await finished(started.body.id);
      expect(done.status, JSON.stringify(done.error)).to.equal('completed');

      const f = done.output.funnel;
      expect(f.total).to.deep.equal({ holds: 17, paid: 8, completed: 1, expired: 7, holdToPaidBp: 4706, paidToCompletedBp: 1250, holdToCompletedBp: 588 });
      expect(f.byTourAndChannel).to.deep.equal([
        { tourCode: d.code, channel: 'partner', holds: 5, paid: 4, completed: 0, expired: 1, holdToPaidBp: 8000, paidToCompletedBp: 0, holdToCompletedBp: 0 },
        { tourCode: d.code, channel: 'staff', holds: 2, paid: 0, completed: 0, expired: 1, holdToPaidBp: 0, paidToCompletedBp: null, holdToCompletedBp: 0 },
        { tourCode: d.code, channel: 'web', holds: 10, paid: 4, completed: 1, expired: 5, holdToPaidBp: 4000, paidToCompletedBp: 2500, holdToCompletedBp: 1000 },
      ]);
      expect(done.output.abandoned).to.equal(7);
      expect(done.output.toRecover).to.deep.equal(recoverable.map((r) => r.ref));
      expect(done.output.experiments).to.deep.equal([{
        tourCode: d.code, channel: null, finding: `${d.code} loses 53% between hold and payment (9 of 17 holds never paid)`,
        suggestion: 'try a shorter payment form, a deposit option, or a longer hold with a reminder before it lapses',
      }]);
      const result = done.output.actions[0];
      expect(result.status).to.equal('done');
      expect([...result.result.enrolled].sort()).to.deep.equal([d.ids.a1, d.ids.a2].sort());
      expect(result.result.skipped).to.deep.equal([{ bookingId: d.ids.s1, why: 'no email consent' }]);

      const enrollments = () => knex('automation_enrollments').where({ automation_id: d.automation.id }).orderBy('contact_id');
      const first = await enrollments();
      expect(first.map((e) => [e.contact_id, e.occasion]).sort()).to.deep.equal([[d.contacts.a1, d.ids.a1], [d.contacts.a2, d.ids.a2]].sort());
      for (const e of first) expect((await temporal.workflow.getHandle(e.workflow_id).describe()).status.name).to.equal('RUNNING');

      // The tool retried (same step key): the recorded answer, nothing fired again. A new call: nobody enrolled twice.
      const stepKey = (await knex('agent_tool_outcomes').where({ run_id: started.body.id, tool: 'funnel.recoverAbandoned' }).first('step_key')).step_key;
      const ctx = (key: string) => ({
        knex, runId: started.body.id, agent: 'BookingOptimizer' as const, stepKey: key, actor: 'agent:BookingOptimizer',
        temporal: async () => temporal, publicUrl: 'http://localhost', now: () => new Date(),
      });
      const input = approval.details.input;
      expect(await recoverTool.run(ctx(stepKey), input)).to.deep.equal(result.result);
      const fresh = await recoverTool.run(ctx(`${stepKey}-again`), input) as { enrolled: string[]; alreadyEnrolled: string[] };
      expect(fresh.enrolled).to.deep.equal([]);
      expect([...fresh.alreadyEnrolled].sort()).to.deep.equal([d.ids.a1, d.ids.a2].sort());
      expect(await enrollments()).to.have.length(2);

      // The next run finds them enrolled: nothing more to recover (s1 has no consent now).
      const again = await api('POST', '/api/v1/agents/BookingOptimizer/runs', { token: operator, body: { input: { tourCodes: [d.code] } } });
      const second = await finished(again.body.id);
      expect(second.output.toRecover).to.deep.equal([]);
      expect(second.output).to.not.have.property('actions');
    } finally {
      await knex('automations').where({ id: d.automation.id }).update({ status: 'archived' });
    }
  });

  it('rejected, nobody is enrolled', async () => {
    const d = await seeded();
    const { knex } = stack();
    try {
      const started = await api('POST', '/api/v1/agents/BookingOptimizer/runs', { token: operator, body: { input: { tourCodes: [d.code] } } });
      const approval = await eventually(async () => (await knex('approvals').where({ agent_run_id: started.body.id }).first()), 30_000);
      const rejected = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: { reason: 'not this week' } });
      expect(rejected.status).to.equal(200);
      const done = await finished(started.body.id);
      expect(done.output.actions).to.deep.equal([{ tool: 'funnel.recoverAbandoned', status: 'rejected' }]);
      expect(await knex('automation_enrollments').where({ automation_id: d.automation.id })).to.have.length(0);
    } finally {
      await knex('automations').where({ id: d.automation.id }).update({ status: 'archived' });
    }
  });
});
