import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { hold, scenario } from '../support/bookings';
import { recordAudit, verifyAuditChain } from '../../models/audit';

/** Runs `sql` with triggers off (as a superuser can), the way someone tampering with the table would. */
async function tamper(sql: string, bindings: unknown[] = []): Promise<void> {
  await stack().knex.transaction(async (trx) => {
    await trx.raw('set local session_replication_role = replica');
    await trx.raw(sql, bindings as never);
  });
}

describe('audit log', () => {
  it('records steering actions: a cancellation, a consent change', async () => {
    const operator = await loginAs('operator');
    const s = await scenario({ daysAhead: 60 });
    const booking = await hold(operator, s.departureId, 1);
    const cancelled = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token: operator, body: { reason: 'changed plans' } });
    expect(cancelled.status).to.equal(200);
    const entry = await stack().knex('audit_log').where({ action: 'booking.cancel', entity_id: booking.id }).first();
    expect(entry).to.not.equal(undefined);
    expect(entry.data.reason).to.equal('changed plans');
    expect(entry.actor_user_id).to.be.a('string');

    const marketer = await loginAs('marketer');
    const created = await api('POST', '/api/v1/contacts', { token: marketer, body: { email: `audit-${Date.now()}@example.com` } });
    const consent = await api('PUT', `/api/v1/contacts/${created.body.id}/consent`, { token: marketer, body: { channel: 'email', status: 'granted', source: 'event stand' } });
    expect(consent.status).to.equal(200);
    const rows = await stack().knex('audit_log').where({ entity_type: 'contact', entity_id: created.body.id }).orderBy('id').pluck('action');
    expect(rows).to.deep.equal(['contact.create', 'contact.consent_set']);
  });

  it('chains concurrent writers into one chain, in id order', async () => {
    const { knex } = stack();
    const before = (await knex('audit_log').max('id as max').first())!.max ?? 0;
    await Promise.all(Array.from({ length: 25 }, (_, i) => knex.transaction(async (trx) => {
      await recordAudit(trx, { action: 'test.concurrent', entityType: 'test', entityId: String(i) });
    })));
    const rows = await knex('audit_log').where('id', '>', before).orderBy('id');
    expect(rows).to.have.length(25);
    for (let i = 1; i < rows.length; i++) expect(rows[i].prev_hash).to.equal(rows[i - 1].hash);
    expect((await verifyAuditChain(knex)).ok).to.equal(true);
  });

  it('refuses updates and deletes; a row changed or removed with SQL breaks the chain, and the endpoint says where', async () => {
    const { knex } = stack();
    await recordAudit(knex, { action: 'test.tamper', entityType: 'test', data: { amount: 100 } });
    await recordAudit(knex, { action: 'test.tamper', entityType: 'test', data: { amount: 200 } });
    const [first, second] = await knex('audit_log').where({ action: 'test.tamper' }).orderBy('id').select('*', knex.raw('at::text as at_exact'));
    let refused: Error | undefined;
    await knex('audit_log').where({ id: first.id }).update({ data: JSON.stringify({ amount: 1 }) }).catch((err: Error) => (refused = err));
    expect(refused?.message).to.match(/append-only/);
    await knex('audit_log').where({ id: first.id }).delete().catch((err: Error) => (refused = err));
    expect(refused?.message).to.match(/append-only/);

    const accountant = await loginAs('accountant');
    expect((await api('GET', '/api/v1/audit/verification', { token: accountant })).body.ok).to.equal(true);
    expect((await api('GET', '/api/v1/audit/verification', { token: await loginAs('marketer') })).status).to.equal(403);

    await tamper(`update audit_log set data = '{"amount": 1}' where id = ?`, [first.id]);
    const changed = await api('GET', '/api/v1/audit/verification', { token: accountant });
    expect(changed.status).to.equal(200);
    expect(changed.body.ok).to.equal(false);
    expect(changed.body.broken).to.include({ id: Number(first.id), reason: 'content_changed' });
    await tamper(`update audit_log set data = '{"amount": 100}' where id = ?`, [first.id]);
    expect((await verifyAuditChain(knex)).ok).to.equal(true);

    // Removing a row (even recomputing nothing else) breaks the link of the next one.
    await tamper('delete from audit_log where id = ?', [first.id]);
    const removed = await verifyAuditChain(knex);
    expect(removed.ok).to.equal(false);
    expect(removed.broken).to.include({ id: Number(second.id), reason: 'link_broken' });
    await tamper(`insert into audit_log (id, actor_user_id, action, entity_type, entity_id, data, request_id, ip, at, prev_hash, hash)
      values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [first.id, first.actor_user_id, first.action, first.entity_type, first.entity_id, JSON.stringify(first.data), first.request_id, first.ip, first.at_exact, first.prev_hash, first.hash]);
    expect((await verifyAuditChain(knex)).ok).to.equal(true);
  });
});

describe('branch scope', () => {
  it('an operator cannot read the waitlist of another branch\'s departure; an admin can', async () => {
    const s = await scenario({ daysAhead: 30 }); // a branch of its own, not the demo operator's
    expect((await api('GET', `/api/v1/departures/${s.departureId}/waitlist`, { token: await loginAs('operator') })).status).to.equal(404);
    expect((await api('GET', `/api/v1/departures/${s.departureId}/waitlist`, { token: await loginAs('admin') })).status).to.equal(200);
  });

  it('an accountant must belong to a branch', async () => {
    let refused: { constraint?: string } | undefined;
    await stack().knex('users').insert({ email: `acc-${Date.now()}@example.com`, password_hash: 'x', role: 'accountant', name: 'No Branch', branch_id: null })
      .catch((err) => (refused = err));
    expect(refused?.constraint).to.equal('users_accountant_branch');
  });
});
