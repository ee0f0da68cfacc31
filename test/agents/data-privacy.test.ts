/**
 * DataPrivacy: its cores on seeded facts (exact); a data-subject export end to end (API → run →
 * bundle); an erasure approved (personal data gone, payments kept) and rejected (nothing changed);
 * the weekly review's retention sweep; and acting tools that act once per step key.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { decideRequest, weeklyReview } from '../../agents/data-privacy/core';
import { privacyErase } from '../../agents/data-privacy/tools';
import type { ToolContext } from '../../agents/types';
import { personalData } from '../../services/privacy';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { stack } from '../support/stack';
import { agentRunFinished, pendingAgentApproval } from '../support/agents';

const hex = () => crypto.randomBytes(4).toString('hex');

/** A person with one of everything: customer, login account, contact with consent, a booking with two travellers and a payment, a message. */
async function seedPerson(options: { old?: boolean } = {}) {
  const { knex } = stack();
  const email = `subject-${hex()}@privacy.test`;
  const departure = await knex('departures').first('id');
  const branch = await knex('branches').first('id');
  const [customer] = await knex('customers').insert({ branch_id: branch.id, first_name: 'Lucía', last_name: 'Privada', email, phone: '+34600111222', language: 'es', country: 'ES', notes: 'window seat' }).returning('id');
  const [user] = await knex('users').insert({ email, name: 'Lucía Privada', role: 'customer', customer_id: customer.id, password_hash: 'x' }).returning('id');
  const [contact] = await knex('contacts').insert({ email, first_name: 'Lucía', last_name: 'Privada', language: 'es', country: 'ES', customer_id: customer.id, source: 'customer', birthday: '1990-04-05' }).returning('id');
  await knex('contact_consents').insert({ contact_id: contact.id, channel: 'email', status: 'granted', source: 'web form', recorded_at: new Date('2026-01-02T03:04:05Z') });
  const reference = `PV${hex().toUpperCase()}`;
  const at = options.old ? new Date(Date.now() - 3650 * 86_400_000) : new Date();
  const [booking] = await knex('bookings').insert({
    reference, departure_id: departure.id, branch_id: branch.id, customer_id: customer.id, status: options.old ? 'expired' : 'confirmed', pax_count: 2, currency: 'EUR',
    total_minor: 100_000, net_minor: 100_000, amount_paid_minor: options.old ? 0 : 50_000, contact: JSON.stringify({ name: 'Lucía Privada', email, phone: '+34600111222' }),
    language: 'es', created_at: at, updated_at: at, workflow_started_at: at, // rows only: the hold-start relay leaves them alone
  }).returning('id');
  const passengers = await knex('passengers').insert([
    { booking_id: booking.id, pax_type: 'adult', first_name: 'Lucía', last_name: 'Privada', birth_date: '1990-04-05' },
    { booking_id: booking.id, pax_type: 'adult', first_name: 'Tomás', last_name: 'Privado', birth_date: null },
  ]).returning('id');
  const payments = options.old ? [] : await knex('payments').insert({ booking_id: booking.id, provider: 'sandbox', purpose: 'deposit', status: 'captured', amount_minor: 50_000, currency: 'EUR', idempotency_key: `privacy-${hex()}` }).returning('id');
  const [message] = await knex('outbox_messages').insert({
    channel: 'email', recipient: email, template: 'booking_confirmed', language: 'es', data: JSON.stringify({ name: 'Lucía' }), booking_id: booking.id, dedupe_key: `privacy-${hex()}`,
    status: 'sent', created_at: at,
  }).returning('id');
  return { email, customerId: customer.id, userId: user.id, contactId: contact.id, bookingId: booking.id, reference, passengerIds: passengers.map((p) => p.id), paymentId: payments[0]?.id as string | undefined, messageId: String(message.id) };
}

describe('DataPrivacy cores', () => {
  const counts = { customers: 1, contacts: 1, bookings: 2, travellers: 3, messages: 4, campaignMessages: 1, payments: 2, accounts: 1 };
  it('stores an export, proposes an erasure (with what is kept), and does nothing for a completed request', () => {
    const id = '00000000-0000-4000-8000-000000000001';
    const exp = decideRequest({ request: { id, kind: 'export', email: 'a@b.test', completed: false }, counts });
    expect(exp.actions).to.deep.equal([{ tool: 'privacy.storeExport', input: { requestId: id }, reason: 'an export request: the bundle of everything we hold' }]);
    expect(exp.output).to.deep.equal({ requestId: id, kind: 'export', found: counts, proposed: 'store_export' });
    const erase = decideRequest({ request: { id, kind: 'erasure', email: 'a@b.test', completed: false }, counts });
    expect(erase.actions.map((a) => [a.tool, a.input])).to.deep.equal([['privacy.erase', { requestId: id, counts }]]);
    expect(erase.narrative).to.equal('We hold 1 customer record(s), 1 contact(s), 2 booking(s) with 3 traveller(s), 5 message(s), 1 login account(s) on the subject. '
      + 'Proposed, after approval: anonymise all of it in place, keeping 2 booking(s)\' amounts and 2 payment(s) by id.');
    expect(privacyErase.describe!({ requestId: id, counts })).to.equal(`Erase the personal data of data-subject request ${id}: anonymise 1 customer record(s), 1 contact(s) and their consents, `
      + 'the contact details of 2 booking(s) and 3 traveller(s), 5 message(s) and 1 login account(s). Kept for accounting: the bookings\' amounts and 2 payment(s), by id. This cannot be undone.');
    expect(decideRequest({ request: { id, kind: 'erasure', email: '', completed: true }, counts }).actions).to.deep.equal([]);
  });

  it('reports the consent audit and proposes a sweep only when something is past retention', () => {
    const consent = {
      messagedWithoutConsent: [{ contactId: 'c1', sends: 2, lastSentAt: '2026-11-01T00:00:00.000Z' }],
      consentsWithoutEvidence: [{ contactId: 'c2', channel: 'email', source: 'unknown', recordedAt: '2026-10-01T00:00:00.000Z' }],
    };
    const retention = { expiredHolds: ['b1', 'b2'], outboxBodies: 3, securityEvents: 4, holdsBefore: '2026-09-03T00:00:00.000Z', outboxBefore: '2025-12-02T00:00:00.000Z', eventsBefore: '2026-09-03T00:00:00.000Z' };
    const week = weeklyReview({ consent, retention });
    expect(week.output).to.deep.equal({ consentAudit: consent, retention: { ...retention, expiredHolds: 2 }, proposed: 'sweep' });
    expect(week.actions).to.deep.equal([{
      tool: 'privacy.sweep', reason: 'personal data kept past its retention period',
      input: { holdIds: ['b1', 'b2'], holdsBefore: retention.holdsBefore, outboxBefore: retention.outboxBefore, outboxBodies: 3, eventsBefore: retention.eventsBefore, securityEvents: 4 },
    }]);
    expect(week.narrative).to.equal('Consent audit: 1 contact(s) messaged without email consent, 1 consent(s) without evidence. '
      + 'Retention: 2 expired hold(s), 3 message body(ies) and 4 security event(s) past retention; proposed, after approval, to erase them.');
    expect(weeklyReview({ consent, retention: { ...retention, expiredHolds: [], outboxBodies: 0, securityEvents: 0 } }).actions).to.deep.equal([]);
  });
});

describe('DataPrivacy end to end', function () {
  this.timeout(120_000);
  let operator: string;
  let admin: string;
  before(async () => { [operator, admin] = await Promise.all([loginAs('operator'), loginAs('admin')]); });

  const file = async (email: string, kind: 'export' | 'erasure') => {
    const r = await api('POST', '/api/v1/privacy/requests', { token: operator, body: { email, kind } });
    expect(r.status, JSON.stringify(r.body)).to.equal(202);
    return r.body as { id: string; agentRunId: string };
  };
  const status = (id: string) => api('GET', `/api/v1/privacy/requests/${id}`, { token: operator });
  const until = (id: string, want: string) => eventually(async () => {
    const r = await status(id);
    return r.body.status === want && r.body;
  }, 30_000);
  const pendingApproval = (runId: string) => pendingAgentApproval(runId, admin, 30_000);

  it('exports everything held on the person as a downloadable bundle, changing nothing', async () => {
    const p = await seedPerson();
    const before = await personalData(stack().knex, p.email);
    const req = await file(p.email.toUpperCase(), 'export');
    expect(req.agentRunId.endsWith(`agent-DataPrivacy-privacy-${req.id}`)).to.equal(true);
    const done = await until(req.id, 'completed');
    expect(done.result).to.deep.equal({ customers: 1, contacts: 1, bookings: 1, travellers: 2, messages: 1, campaignMessages: 0, payments: 1, accounts: 1 });
    const dl = await api('GET', `/api/v1/privacy/requests/${req.id}/export`, { token: operator });
    expect(dl.status).to.equal(200);
    expect(dl.headers.get('content-disposition')).to.equal(`attachment; filename="privacy-export-${req.id}.json"`);
    const b = dl.body;
    expect(Object.keys(b).sort()).to.deep.equal(['accounts', 'bookings', 'campaignMessages', 'contacts', 'customers', 'email', 'messages', 'payments', 'travellers']);
    expect(b.email).to.equal(p.email);
    expect(b.customers.map((c: any) => [c.id, c.firstName, c.lastName, c.email, c.phone, c.notes])).to.deep.equal([[p.customerId, 'Lucía', 'Privada', p.email, '+34600111222', 'window seat']]);
    expect(b.contacts.map((c: any) => [c.id, c.email, c.birthday, c.consents])).to.deep.equal([[p.contactId, p.email, '1990-04-05', [{ channel: 'email', status: 'granted', source: 'web form', recordedAt: '2026-01-02T03:04:05.000Z' }]]]);
    expect(b.bookings.map((x: any) => [x.id, x.reference, x.totalMinor, x.amountPaidMinor, x.contact])).to.deep.equal([[p.bookingId, p.reference, 100_000, 50_000, { name: 'Lucía Privada', email: p.email, phone: '+34600111222' }]]);
    expect(b.travellers.map((t: any) => [t.firstName, t.lastName, t.birthDate]).sort()).to.deep.equal([['Lucía', 'Privada', '1990-04-05'], ['Tomás', 'Privado', null]]);
    expect(b.messages.map((m: any) => [m.id, m.template, m.recipient, m.data])).to.deep.equal([[p.messageId, 'booking_confirmed', p.email, { name: 'Lucía' }]]);
    expect(b.payments.map((x: any) => [x.id, x.amountMinor, x.status])).to.deep.equal([[p.paymentId, 50_000, 'captured']]);
    expect(b.accounts.map((u: any) => [u.id, u.email, u.role])).to.deep.equal([[p.userId, p.email, 'customer']]);
    expect(await personalData(stack().knex, p.email)).to.deep.equal(before);
    expect((await api('GET', `/api/v1/privacy/requests/${req.id}/export`, { token: await loginAs('marketer') })).status).to.equal(403);
  });

  it('erases after approval: personal data gone, payments and amounts kept, the request done', async () => {
    const p = await seedPerson();
    const req = await file(p.email, 'erasure');
    const approval = await pendingApproval(req.agentRunId);
    expect(approval.what).to.contain('Kept for accounting: the bookings\' amounts and 1 payment(s), by id. This cannot be undone.');
    expect((await status(req.id)).body.status).to.equal('waiting_approval');
    expect((await api('GET', `/api/v1/privacy/requests/${req.id}/export`, { token: operator })).status).to.equal(409);
    const ok = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: admin, body: {} });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
    const done = await until(req.id, 'completed');
    const crypto2 = crypto.createHash('sha256').update(p.email).digest('hex');
    expect(done.email).to.equal(`sha256:${crypto2}`);
    expect(done.result).to.deep.equal({
      emailSha256: crypto2,
      erased: { customers: 1, contacts: 1, bookings: 1, travellers: 2, messages: 1, campaignMessages: 0, accounts: 1 },
      kept: { bookings: [p.bookingId], payments: [p.paymentId], refunds: [] },
    });
    const { knex } = stack();
    expect(await personalData(knex, p.email)).to.deep.equal({ email: p.email, customers: [], contacts: [], bookings: [], travellers: [], messages: [], campaignMessages: [], payments: [], accounts: [] });
    const customer = await knex('customers').where({ id: p.customerId }).first();
    expect([customer.first_name, customer.last_name, customer.email, customer.phone, customer.notes]).to.deep.equal(['[erased]', '[erased]', null, null, null]);
    expect((await knex('contacts').where({ id: p.contactId }).first()).email).to.equal(`erased-${p.contactId}@erased.invalid`);
    expect(await knex('contact_consents').where({ contact_id: p.contactId })).to.have.length(0);
    const booking = await knex('bookings').where({ id: p.bookingId }).first();
    expect([booking.contact, booking.reference, Number(booking.total_minor), Number(booking.amount_paid_minor)]).to.deep.equal([{ erased: true }, p.reference, 100_000, 50_000]);
    expect((await knex('passengers').whereIn('id', p.passengerIds)).map((x) => [x.first_name, x.last_name, x.birth_date])).to.deep.equal([['[erased]', '[erased]', null], ['[erased]', '[erased]', null]]);
    const message = await knex('outbox_messages').where({ id: p.messageId }).first();
    expect([message.recipient, message.data]).to.deep.equal(['[erased]', {}]);
    const payment = await knex('payments').where({ id: p.paymentId }).first();
    expect([payment.booking_id, Number(payment.amount_minor), payment.status]).to.deep.equal([p.bookingId, 50_000, 'captured']);
    const user = await knex('users').where({ id: p.userId }).first();
    expect([user.email, user.name, user.active]).to.deep.equal([`erased-${p.userId}@erased.invalid`, '[erased]', false]);
    expect(await knex('audit_log').where({ action: 'privacy.erased', entity_id: req.id })).to.have.length(1);
  });

  it('changes nothing when the erasure is rejected', async () => {
    const p = await seedPerson();
    const before = await personalData(stack().knex, p.email);
    const req = await file(p.email, 'erasure');
    const approval = await pendingApproval(req.agentRunId);
    const no = await api('POST', `/api/v1/approvals/${approval.id}/reject`, { token: admin, body: { reason: 'the person withdrew the request' } });
    expect(no.status, JSON.stringify(no.body)).to.equal(200);
    const done = await until(req.id, 'rejected');
    expect([done.email, done.result, done.completedAt]).to.deep.equal([p.email, null, null]);
    expect(await personalData(stack().knex, p.email)).to.deep.equal(before);
  });

  it('erases once per step key, and a second erasure of a completed request answers the first result', async () => {
    const p = await seedPerson();
    const { knex } = stack();
    const [row] = await knex('privacy_requests').insert({ email: p.email, kind: 'erasure' }).returning('id');
    const ctx = (stepKey: string): ToolContext => ({
      knex, runId: 'agent-DataPrivacy-test-once', agent: 'DataPrivacy', stepKey, actor: 'agent:DataPrivacy',
      temporal: async () => stack().temporal, publicUrl: 'http://127.0.0.1', now: () => new Date(),
    });
    const counts = { customers: 1, contacts: 1, bookings: 1, travellers: 2, messages: 1, campaignMessages: 0, payments: 1, accounts: 1 };
    const key = `agent-DataPrivacy-test-once/action-0-${hex()}`;
    const first = await privacyErase.run(ctx(key), { requestId: row.id, counts });
    expect(await privacyErase.run(ctx(key), { requestId: row.id, counts })).to.deep.equal(first);
    expect(await privacyErase.run(ctx(`${key}-other`), { requestId: row.id, counts })).to.deep.equal(first);
    expect(first.erased.customers).to.equal(1);
    expect(await knex('audit_log').where({ action: 'privacy.erased', entity_id: row.id })).to.have.length(1);
  });

  it('weekly: reports the consent audit and sweeps what is past retention only after approval', async () => {
    const { knex } = stack();
    const old = await seedPerson({ old: true });
    // a contact sent a campaign email before any consent, and a consent with no evidence
    const [unconsented] = await knex('contacts').insert({ email: `nc-${hex()}@privacy.test`, source: 'import' }).returning('id');
    const campaign = await knex('campaigns').first('id');
    if (campaign) await knex('campaign_recipients').insert({ campaign_id: campaign.id, contact_id: unconsented.id, email: `nc@privacy.test`, variant: 'A', status: 'sent', sent_at: new Date() });
    await knex('contact_consents').insert({ contact_id: unconsented.id, channel: 'whatsapp', status: 'granted', source: 'unknown' });
    // an old security event: addresses are personal data too
    await knex('security_events').insert({ kind: 'http_401', ip: '192.0.2.77', at: new Date(Date.now() - 3650 * 86_400_000) });
    const input = { holdRetentionDays: 3000, outboxRetentionDays: 3000, securityEventRetentionDays: 3000, lookbackDays: 30 };

    const run = async () => {
      const r = await api('POST', '/api/v1/agents/DataPrivacy/runs', { token: operator, body: { input } });
      expect(r.status, JSON.stringify(r.body)).to.equal(202);
      return r.body.id as string;
    };
    const finished = (id: string) => agentRunFinished(id, operator, 30_000);

    const rejected = await run();
    const a1 = await pendingApproval(rejected);
    expect(a1.what).to.match(/^Erase the contact details and travellers of 1 expired hold\(s\) untouched since before \d{4}-\d\d-\d\d, the bodies of 1 sent message\(s\) created before \d{4}-\d\d-\d\d, and 1 security event\(s\) recorded before \d{4}-\d\d-\d\d\. This cannot be undone\.$/);
    await api('POST', `/api/v1/approvals/${a1.id}/reject`, { token: admin, body: { reason: 'not this week' } });
    const r1 = await finished(rejected);
    expect(r1.output.retention).to.deep.include({ expiredHolds: 1, outboxBodies: 1, securityEvents: 1 });
    if (campaign) expect(r1.output.consentAudit.messagedWithoutConsent.map((m: { contactId: string }) => m.contactId)).to.include(unconsented.id);
    expect(r1.output.consentAudit.consentsWithoutEvidence).to.deep.include.members([{ contactId: unconsented.id, channel: 'whatsapp', source: 'unknown', recordedAt: r1.output.consentAudit.consentsWithoutEvidence.find((c: { contactId: string }) => c.contactId === unconsented.id).recordedAt }]);
    expect((await knex('bookings').where({ id: old.bookingId }).first()).contact.email).to.equal(old.email);

    const approved = await run();
    const a2 = await pendingApproval(approved);
    await api('POST', `/api/v1/approvals/${a2.id}/approve`, { token: admin, body: {} });
    const r2 = await finished(approved);
    expect(r2.output.actions).to.deep.equal([{ tool: 'privacy.sweep', status: 'done', result: { holds: 1, travellers: 2, outboxBodies: 1, securityEvents: 1 } }]);
    expect(await knex('security_events').where({ ip: '192.0.2.77' })).to.have.length(0);
    expect((await knex('bookings').where({ id: old.bookingId }).first()).contact).to.deep.equal({ erased: true });
    expect((await knex('outbox_messages').where({ id: old.messageId }).first()).data).to.deep.equal({});
    // the sweep's run is the weekly one's occasion only when scheduled; a request's occasion is its own
    expect(approved).to.not.equal(rejected);
  });
});
