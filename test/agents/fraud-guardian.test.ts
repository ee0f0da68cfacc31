/**
 * FraudGuardian: the pure core (each signal's exact points, the thresholds, phone and address
 * countries), and the check inside the booking saga end to end: a low score confirms; a review
 * waits in the inbox with the hold kept (approve → confirmed, reject → seats released and failed,
 * nobody decides → its default); a block is refused with its reason and nothing authorized; a
 * retried check answers the same; the agent's API run re-scores a booking.
 *
 * The suite raises the velocity thresholds for every test (test/support/env.ts); each test here
 * sets what it needs in its own branch's fraud_rules row, which the check reads every time.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import {
  DEFAULT_FRAUD_RULES, ipCountryTable, mergeFraudRules, phoneCountries, scorePayment, type PaymentFacts,
} from '../../agents/fraud-guardian/core';
import { createFraudActivities, fraudRunId } from '../../activities/fraud';
import { temporalConfig } from '../../temporal.config';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, eventually, scenario, seats, timeline } from '../support/bookings';

const quiet: PaymentFacts = {
  bookingId: 'b', attemptKey: 'pay-1', amountMinor: 20_000, currency: 'EUR', leadTimeHours: 24 * 30,
  countries: { card: null, phone: 'ES', ip: null }, phoneCountries: ['ES'],
  attempts: { customer: 1, card: 1, ip: 1 }, declines: 0,
  usual: { customerMinor: null, customerPayments: 0, tourMinor: null, tourPayments: 0 },
};
const facts = (over: Partial<PaymentFacts>): PaymentFacts => ({ ...quiet, ...over });
const points = (f: PaymentFacts) => Object.fromEntries(scorePayment(f).signals.map((s) => [s.name, s.points]));

describe('FraudGuardian core (pure)', () => {
  it('scores a quiet payment 0: it goes on', () => {
    expect(scorePayment(quiet)).to.deep.include({ score: 0, decision: 'pass', signals: [] });
  });

  it('gives each signal its exact points', () => {
    expect(points(facts({ attempts: { customer: 6, card: 1, ip: 1 } }))).to.deep.equal({ 'velocity.customer': 20 });
    expect(points(facts({ attempts: { customer: 5, card: 5, ip: 1 } }))).to.deep.equal({ 'velocity.card': 25 });
    expect(points(facts({ attempts: { customer: 1, card: 1, ip: 11 } }))).to.deep.equal({ 'velocity.ip': 15 });
    expect(points(facts({ declines: 1 }))).to.deep.equal({});
    expect(points(facts({ declines: 2 }))).to.deep.equal({ declines: 15 });
    expect(points(facts({ declines: 9 }))).to.deep.equal({ declines: 30 });
    expect(points(facts({ countries: { card: 'BR', phone: 'ES', ip: null } }))).to.deep.equal({ 'country.cardVsPhone': 20 });
    expect(points(facts({ countries: { card: 'ES', phone: 'ES', ip: 'NG' } }))).to.deep.equal({ 'country.cardVsIp': 25, 'country.phoneVsIp': 10 });
    expect(points(facts({ countries: { card: 'BR', phone: 'ES', ip: 'BR' } }))).to.deep.equal({ 'country.cardVsPhone': 20, 'country.phoneVsIp': 10 });
    expect(points(facts({ amountMinor: 70_000, usual: { customerMinor: 20_000, customerPayments: 2, tourMinor: 20_000, tourPayments: 5 } }))).to.deep.equal({ 'amount.customer': 10, 'amount.tour': 10 });
    // Too little history says nothing; exactly 3× is not above 3×.
    expect(points(facts({ amountMinor: 70_000, usual: { customerMinor: 20_000, customerPayments: 1, tourMinor: 20_000, tourPayments: 4 } }))).to.deep.equal({});
    expect(points(facts({ amountMinor: 60_000, usual: { customerMinor: 20_000, customerPayments: 9, tourMinor: 20_000, tourPayments: 9 } }))).to.deep.equal({});
    expect(points(facts({ leadTimeHours: 47.9 }))).to.deep.equal({ leadTime: 5 });
    expect(points(facts({ leadTimeHours: 48 }))).to.deep.equal({});
  });

  it('never puts a payment in review on amount and lead time alone (25 < 30)', () => {
    const r = scorePayment(facts({ amountMinor: 1_000_000, leadTimeHours: 2, usual: { customerMinor: 10_000, customerPayments: 5, tourMinor: 10_000, tourPayments: 50 } }));
    expect(r).to.deep.include({ score: 25, decision: 'pass' });
  });

  it('reviews from 30, refuses from 80, and caps at 100', () => {
    const withCustomerPoints = (n: number) => scorePayment(facts({ attempts: { customer: 9, card: 1, ip: 1 } }), mergeFraudRules(DEFAULT_FRAUD_RULES, { velocity: { customerPoints: n } }).rules);
    expect(withCustomerPoints(29)).to.include({ score: 29, decision: 'pass' });
    expect(withCustomerPoints(30)).to.include({ score: 30, decision: 'review' });
    expect(withCustomerPoints(79)).to.include({ score: 79, decision: 'review' });
    expect(withCustomerPoints(80)).to.include({ score: 80, decision: 'block' });
    const everything = scorePayment(facts({ attempts: { customer: 9, card: 9, ip: 99 }, declines: 9, countries: { card: 'BR', phone: 'ES', ip: 'NG' } }));
    expect(everything.score).to.equal(100);
    expect(everything.decision).to.equal('block');
    expect(everything.signals[0]).to.deep.include({ name: 'declines', points: 30 });
    expect(everything.reason).to.match(/^fraud score 100: the payment is refused as suspected fraud \(/);
  });

  it('reads a phone\'s country from its calling code (+1 is several countries)', () => {
    expect(phoneCountries('+34 600 123 456')).to.deep.equal(['ES']);
    expect(phoneCountries('0044 20 7946 0000')).to.deep.equal(['GB', 'GG', 'JE', 'IM']);
    expect(phoneCountries('+351912345678')).to.deep.equal(['PT']);
    expect(phoneCountries('600123456')).to.deep.equal([]);
    expect(phoneCountries(null)).to.deep.equal([]);
    expect(points(facts({ countries: { card: 'CA', phone: 'US', ip: null }, phoneCountries: phoneCountries('+1 416 555 0100') }))).to.deep.equal({});
  });

  it('knows an address\'s country only from its configured table; private and loopback are nowhere', () => {
    const t = ipCountryTable('203.0.113.0/24=au, 2001:db8::/32=DE, 127.0.0.0/8=US, nonsense, 1.2.3.4/40=FR');
    expect(t.size).to.equal(3);
    expect(t.problems).to.have.length(2);
    expect(t.lookup('203.0.113.9')).to.equal('AU');
    expect(t.lookup('::ffff:203.0.113.9')).to.equal('AU');
    expect(t.lookup('2001:db8::1')).to.equal('DE');
    expect(t.lookup('198.51.100.1')).to.equal(null);
    expect(t.lookup('127.0.0.1')).to.equal(null);
    expect(t.lookup('10.1.2.3')).to.equal(null);
    expect(t.lookup('::1')).to.equal(null);
    expect(t.lookup('not an address')).to.equal(null);
  });

  it('merges rule overrides and reports what it ignores', () => {
    const { rules, problems } = mergeFraudRules(DEFAULT_FRAUD_RULES, { reviewAt: 40, velocity: { maxPerCard: 2, bogus: 1 } }, { blockAt: 'high', review: { onTimeout: 'approve' } });
    expect(rules.reviewAt).to.equal(40);
    expect(rules.blockAt).to.equal(80);
    expect(rules.velocity.maxPerCard).to.equal(2);
    expect(rules.velocity.maxPerCustomer).to.equal(5);
    expect(rules.review.onTimeout).to.equal('approve');
    expect(problems).to.deep.equal(['velocity.bogus: unknown', 'blockAt: expected a number ≥ 0']);
  });
});

describe('FraudGuardian in the booking saga', function () {
  this.timeout(90_000);
  let admin: string;
  let operator: string;

  before(async () => {
    [admin, operator] = await Promise.all([loginAs('admin'), loginAs('operator')]);
  });

  /** A branch of our own with these fraud rules (and booking rules), a departure 30 days out. */
  async function fraudScenario(rules: Record<string, unknown> = {}, bookingRules?: Record<string, unknown>) {
    const s = await scenario({ daysAhead: 30, adultMinor: 10_000, rules: bookingRules });
    await stack().knex('fraud_rules').insert({ branch_id: s.branchId, rules: JSON.stringify(rules) });
    return s;
  }

  /** A hold for a customer of its own (staff book by contact email), so velocity and usual amounts start from nothing. */
  async function holdFor(departureId: string, email = `fraud.${crypto.randomBytes(4).toString('hex')}@example.com`, adults = 2) {
    const res = await api('POST', '/api/v1/bookings', {
      token: admin,
      body: { departureId, passengers: Array.from({ length: adults }, (_, i) => ({ type: 'adult', firstName: `F${i}`, lastName: 'Raud' })), contact: { name: 'Fe Raud', email, phone: '+34600999888' } },
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body as { id: string; reference: string };
  }

  const pay = (bookingId: string, paymentMethod: string) => api('POST', `/api/v1/bookings/${bookingId}/payments`, { token: admin, body: { paymentMethod } });
  const attempts = (bookingId: string) => stack().knex('payment_attempts').where({ booking_id: bookingId }).orderBy('created_at');
  const pendingReview = (bookingId: string) => eventually(async () => {
    const list = await api('GET', '/api/v1/approvals?status=pending&kind=payment_review', { token: admin });
    return list.body.data.find((a: { bookingId: string }) => a.bookingId === bookingId);
  });

  it('lets a low score through: the booking confirms, and the check is recorded as a core run', async () => {
    const s = await fraudScenario();
    const b = await holdFor(s.departureId);
    const res = await pay(b.id, 'pm_card_visa');
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    expect(res.body.bookingStatus).to.equal('paid_in_full');
    const [attempt] = await attempts(b.id);
    expect(attempt).to.include({ attempt_key: 'pay-1', fraud_score: 0, fraud_decision: 'pass', card_key: 'sandbox:pm_card_visa', card_country: null, phone_country: 'ES', ip_country: null });
    expect(attempt.client_ip).to.be.oneOf(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
    const run = await stack().knex('agent_runs').where({ id: fraudRunId(b.id, 'pay-1', temporalConfig.taskQueuePrefix) }).first();
    expect(run).to.include({ agent: 'FraudGuardian', mode: 'core', status: 'completed', trigger: 'event' });
    expect(run.id).to.equal(`${temporalConfig.taskQueuePrefix}agent-FraudGuardian-payment-${b.id}-1`);
    expect(run.steps).to.have.length(1);
    expect(run.steps[0]).to.deep.include({ kind: 'core', name: 'FraudGuardian', output: { score: 0, decision: 'pass', signals: [] } });
    expect(await timeline(b.id)).to.include('fraud_checked');
  });

  it('puts a 30-80 score in the inbox and keeps the hold past its expiry; approved, the saga authorizes and the booking confirms', async () => {
    // A Brazilian card with a Spanish phone, weighted to 40 in this branch; a hold of 3 seconds.
    const s = await fraudScenario({ countries: { cardVsPhone: 40 } }, { holdMinutes: 0.05 });
    const b = await holdFor(s.departureId);
    const res = await pay(b.id, 'pm_card_br');
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body).to.include({ status: 'pending_review', bookingStatus: 'held' });
    expect(res.body.fraud).to.deep.equal({ score: 40, signals: [{ name: 'country.cardVsPhone', points: 40, detail: 'the card is from BR, the contact phone from ES' }] });

    const approval = await pendingReview(b.id);
    expect(approval.id).to.equal(res.body.approvalId);
    expect(approval.what).to.equal(`Let the payment of 200.00 EUR for booking ${b.reference} go ahead: the card is authorized and captured and the booking confirmed. Rejecting it releases the 2 seats held and the booking fails.`);
    expect(approval).to.deep.include({ kind: 'payment_review', requestedBy: { kind: 'agent', id: 'FraudGuardian' }, onExpiry: 'reject', amount: 20_000, currency: 'EUR' });
    expect(approval.agentRunId).to.equal(fraudRunId(b.id, 'pay-1', temporalConfig.taskQueuePrefix));
    expect(Date.parse(approval.expiresAt) - Date.parse(approval.requestedAt)).to.be.closeTo(24 * 3_600_000, 60_000);

    // The booking's timeline shows it, and the booking says what it waits for.
    const view = await api('GET', `/api/v1/bookings/${b.id}`, { token: admin });
    const entry = view.body.timeline.find((e: { type: string }) => e.type === 'payment_review_requested');
    expect(entry.data).to.deep.include({ approvalId: approval.id, score: 40, decision: 'review', holdKeptUntilDecided: true });
    expect(entry.actor).to.equal('agent:FraudGuardian');
    // Another payment meanwhile is refused; nothing was authorized.
    const again = await pay(b.id, 'pm_card_visa');
    expect(again.status).to.equal(409);
    expect(await stack().knex('payments').where({ booking_id: b.id })).to.have.length(0);

    // Past the hold's own 3 seconds the seats are still held.
    await new Promise((r) => setTimeout(r, 4_500));
    expect(await bookingStatus(b.id)).to.equal('held');
    expect(await seats(s.departureId)).to.deep.equal({ held: 2, sold: 0 });

    const decided = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: admin, body: { note: 'customer called, lives in Madrid' } });
    expect(decided.status, JSON.stringify(decided.body)).to.equal(200);
    expect(decided.body).to.deep.include({ status: 'approved', kind: 'payment_review', bookingStatus: 'paid_in_full' });
    expect(decided.body.payment).to.include({ outcome: 'succeeded', amount: 20_000 });
    expect(await bookingStatus(b.id)).to.equal('paid_in_full');
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 2 });
    const payments = await stack().knex('payments').where({ booking_id: b.id });
    expect(payments.map((p) => p.status)).to.deep.equal(['captured']);
    expect((await stack().knex('approvals').where({ id: approval.id }).first()).status).to.equal('approved');
    expect(await timeline(b.id)).to.include.members(['payment_review_requested', 'approval_approved', 'payment_captured']);
  });

  it('rejected: the seats go back and the booking fails, nothing authorized', async () => {
    const s = await fraudScenario({ countries: { cardVsPhone: 40 } });
    const b = await holdFor(s.departureId);
    expect((await pay(b.id, 'pm_card_br')).status).to.equal(202);
    const approval = await pendingReview(b.id);
    // An operator of another branch does not even see it; a reason is required.
    expect((await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: operator, body: { reason: 'x' } })).status).to.equal(404);
    expect((await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: admin, body: {} })).status).to.equal(422);
    const decided = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: admin, body: { reason: 'card reported stolen' } });
    expect(decided.status, JSON.stringify(decided.body)).to.equal(200);
    expect(decided.body).to.deep.include({ status: 'rejected', bookingStatus: 'failed' });
    expect(await bookingStatus(b.id)).to.equal('failed');
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    expect(await stack().knex('payments').where({ booking_id: b.id })).to.have.length(0);
    expect((await stack().knex('bookings').where({ id: b.id }).first()).failure_reason).to.equal('the payment was refused after a fraud review: card reported stolen');
    const audit = await stack().knex('audit_log').where({ action: 'approval.reject', entity_id: approval.id });
    expect(audit).to.have.length(1);
  });

  it('a review nobody decides takes its default (reject): seats released, booking failed', async () => {
    const s = await fraudScenario({ countries: { cardVsPhone: 40 }, review: { timeoutHours: 0.001 } });
    const b = await holdFor(s.departureId);
    expect((await pay(b.id, 'pm_card_br')).status).to.equal(202);
    await eventually(async () => (await bookingStatus(b.id)) === 'failed', 20_000);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    const approval = await stack().knex('approvals').where({ booking_id: b.id, kind: 'payment_review' }).first();
    expect(approval.status).to.equal('expired');
    expect(await timeline(b.id)).to.include('approval_expired');
  });

  it('refuses 80 and above with its reason and signals (402 fraud_suspected); nothing reaches the provider', async () => {
    const s = await fraudScenario({ countries: { cardVsPhone: 80 } });
    const b = await holdFor(s.departureId);
    const res = await pay(b.id, 'pm_card_br');
    expect(res.status, JSON.stringify(res.body)).to.equal(402);
    expect(res.headers.get('content-type')).to.contain('problem+json');
    expect(res.body).to.deep.include({ code: 'fraud_suspected', score: 80, bookingStatus: 'held' });
    expect(res.body.signals).to.deep.equal([{ name: 'country.cardVsPhone', points: 80, detail: 'the card is from BR, the contact phone from ES' }]);
    expect(res.body.detail).to.match(/refused as suspected fraud \(score 80\); nothing was charged/);
    expect(await stack().knex('payments').where({ booking_id: b.id })).to.have.length(0);
    expect(await stack().knex('sandbox_payments').where({ booking_id: b.id })).to.have.length(0);
    expect(await timeline(b.id)).to.include('payment_refused_fraud');
    expect((await attempts(b.id)).map((a) => [a.fraud_score, a.fraud_decision])).to.deep.equal([[80, 'block']]);
  });

  it('counts a customer\'s attempts in the window when the branch asks (velocity set per test)', async () => {
    const s = await fraudScenario({ velocity: { maxPerCustomer: 1, customerPoints: 30 } });
    const email = `fraud.velocity.${crypto.randomBytes(4).toString('hex')}@example.com`;
    const first = await holdFor(s.departureId, email, 1);
    expect((await pay(first.id, 'pm_card_visa')).status).to.equal(201);
    const second = await holdFor(s.departureId, email, 1);
    const res = await pay(second.id, 'pm_card_visa');
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.fraud).to.deep.equal({ score: 30, signals: [{ name: 'velocity.customer', points: 30, detail: '2 payment attempts by this customer in the last 60 minutes (more than 1)' }] });
  });

  it('a retried check answers what it recorded, once (even when the rules changed meanwhile)', async () => {
    const { knex } = stack();
    const s = await fraudScenario({ countries: { cardVsPhone: 40 } });
    const b = await holdFor(s.departureId);
    const fraud = createFraudActivities({ knex, rules: () => process.env.FRAUD_RULES, ipTable: ipCountryTable(''), runIdPrefix: 'retry-test-' });
    const input = {
      bookingId: b.id, workflowId: `booking-${b.id}`, attemptKey: 'pay-7', provider: 'sandbox' as const, paymentMethod: 'pm_card_br', clientIp: '127.0.0.1',
      amountMinor: 20_000, currency: 'EUR', purpose: 'full' as const, timeScale: 1,
    };
    const first = await fraud['fraud.check'](input);
    expect(first).to.deep.include({ decision: 'review', score: 40, runId: `retry-test-agent-FraudGuardian-payment-${b.id}-7` });
    await knex('fraud_rules').where({ branch_id: s.branchId }).update({ rules: JSON.stringify({ countries: { cardVsPhone: 90 } }) });
    const [again, concurrent] = await Promise.all([fraud['fraud.check'](input), fraud['fraud.check'](input)]);
    expect(again).to.deep.equal(first);
    expect(concurrent).to.deep.equal(first);
    expect(await knex('payment_attempts').where({ booking_id: b.id, attempt_key: 'pay-7' })).to.have.length(1);
    expect(await knex('approvals').where({ booking_id: b.id, kind: 'payment_review' })).to.have.length(1);
    expect(await knex('agent_runs').where({ id: first.runId })).to.have.length(1);
    expect((await knex('booking_events').where({ booking_id: b.id, type: 'payment_review_requested' }))).to.have.length(1);
  });

  it('when the check cannot run, the attempt goes to a person, unscored (never straight through)', async () => {
    const { knex } = stack();
    const s = await fraudScenario();
    const b = await holdFor(s.departureId);
    const fraud = createFraudActivities({ knex, rules: () => undefined, ipTable: ipCountryTable(''), runIdPrefix: 'unscored-test-' });
    const input = {
      bookingId: b.id, workflowId: `booking-${b.id}`, attemptKey: 'pay-1', provider: 'sandbox' as const, paymentMethod: 'pm_card_visa', clientIp: null,
      amountMinor: 20_000, currency: 'EUR', purpose: 'full' as const, timeScale: 1, error: 'connect ECONNREFUSED 127.0.0.1:5432',
    };
    const verdict = await fraud['fraud.review'](input);
    expect(verdict).to.deep.include({ decision: 'review', score: null, signals: [] });
    expect(verdict.reason).to.equal('the fraud check could not run (connect ECONNREFUSED 127.0.0.1:5432): a person decides');
    expect(await fraud['fraud.review'](input)).to.deep.equal(verdict);
    const run = await knex('agent_runs').where({ id: verdict.runId }).first();
    expect(run).to.include({ status: 'failed', error: 'connect ECONNREFUSED 127.0.0.1:5432' });
    expect((await knex('approvals').where({ id: verdict.approvalId }).first()).status).to.equal('pending');
  });

  it('re-scores a booking\'s latest attempt through the API (a core-mode run of FraudGuardian)', async () => {
    const s = await fraudScenario({ countries: { cardVsPhone: 80 } });
    const b = await holdFor(s.departureId);
    expect((await pay(b.id, 'pm_card_br')).status).to.equal(402);
    const started = await api('POST', '/api/v1/agents/FraudGuardian/runs', { token: operator, body: { input: { bookingId: b.id } } });
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    const done = await eventually(async () => {
      const r = await api('GET', `/api/v1/agent-runs/${encodeURIComponent(started.body.id)}`, { token: operator });
      return ['completed', 'failed'].includes(r.body.status) && r.body;
    }, 30_000);
    expect(done.status, JSON.stringify(done)).to.equal('completed');
    expect(done.mode).to.equal('core');
    expect(done.steps.map((x: { kind: string; name: string }) => `${x.kind}:${x.name}`)).to.deep.equal(['tool:fraud.paymentFacts', 'core:FraudGuardian']);
    expect(done.output).to.deep.include({ bookingId: b.id, attemptKey: 'pay-1', score: 80, decision: 'block' });
    expect(done.output.signals).to.deep.equal([{ name: 'country.cardVsPhone', points: 80, detail: 'the card is from BR, the contact phone from ES' }]);
    expect(done.output.recorded).to.deep.include({ attemptKey: 'pay-1', score: 80, decision: 'block' });
    expect(done.narrative).to.match(/^Re-scored now: fraud score 80/);
    const refused = await api('POST', '/api/v1/agents/FraudGuardian/runs', { token: operator, body: { input: { bookingId: 'nope' } } });
    expect(refused.status).to.equal(422);
  });
});
