import { expect } from 'chai';
import { countSegment, segmentNodeSchema, type SegmentNode } from '../../models/segments';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { hold, scenario } from '../support/bookings';

describe('segments', function () {
  this.timeout(60_000);
  const tag = `seg${Date.now()}`;
  let emails: Record<string, string>;

  before(async () => {
    const { knex } = stack();
    emails = { ana: `ana.${tag}@example.com`, ben: `ben.${tag}@example.com`, cai: `cai.${tag}@example.com`, dan: `dan.${tag}@example.com` };
    const rows = await knex('contacts').insert([
      { email: emails.ana, first_name: 'Ana', language: 'es', country: 'ES', source: 'import', tags: [tag, 'vip'], birthday: '1990-03-14' },
      { email: emails.ben, first_name: 'Ben', language: 'en', country: 'US', source: 'lead', tags: [tag] },
      { email: emails.cai, first_name: 'Cai', language: 'en', country: 'MX', source: 'import', tags: [tag, 'vip'] },
      { email: emails.dan, first_name: 'Dan', language: 'es', country: 'ES', source: 'import', tags: [tag] },
    ]).returning(['id', 'email']);
    const id = (e: string) => rows.find((r) => r.email === e)!.id;
    await knex('contact_consents').insert([
      { contact_id: id(emails.ana), channel: 'email', status: 'granted', source: 'test' },
      { contact_id: id(emails.ben), channel: 'email', status: 'granted', source: 'test' },
      { contact_id: id(emails.cai), channel: 'email', status: 'withdrawn', source: 'test' },
      { contact_id: id(emails.dan), channel: 'email', status: 'granted', source: 'test' },
    ]);
    await knex('suppressions').insert({ email: emails.dan, reason: 'bounce', source: 'test' });
    await knex('email_events').insert({ provider: 'sendgrid', event_id: `ev-${tag}`, type: 'open', email: emails.ben, occurred_at: new Date(Date.now() - 3 * 86_400_000) });
  });

  const count = (rules: SegmentNode) => countSegment(stack().knex, { all: [{ field: 'tag', op: 'has', value: tag }, rules] });

  it('compiles field rules with AND, OR and NOT', async () => {
    expect((await count({ field: 'language', op: 'eq', value: 'es' })).matching).to.equal(2);
    expect((await count({ any: [{ field: 'country', op: 'eq', value: 'us' }, { field: 'country', op: 'eq', value: 'MX' }] })).matching).to.equal(2);
    expect((await count({ not: { field: 'tag', op: 'has', value: 'vip' } })).matching).to.equal(2);
    expect((await count({ all: [{ field: 'tag', op: 'has', value: 'vip' }, { field: 'language', op: 'eq', value: 'en' }] })).matching).to.equal(1);
    expect((await count({ field: 'birthday_month', op: 'eq', value: 3 })).matching).to.equal(1);
    expect((await count({ field: 'country', op: 'in', value: ['ES', 'MX'] })).matching).to.equal(3);
  });

  it('counts as sendable only consented, unsuppressed contacts', async () => {
    const all = await count({ field: 'source', op: 'neq', value: 'nobody' });
    expect(all.matching).to.equal(4);
    expect(all.sendable).to.equal(2); // cai withdrew consent, dan bounced
    expect(all.sample.map((s) => s.email).sort()).to.deep.equal([emails.ana, emails.ben].sort());
  });

  it('follows consent, suppressions and address changes as they happen', async () => {
    const { knex } = stack();
    const sendableNow = async () => (await count({ field: 'source', op: 'neq', value: 'nobody' })).sendable;
    expect(await sendableNow()).to.equal(2); // ana, ben
    const ben = await knex('contacts').where({ email: emails.ben }).first('id');
    await knex('contact_consents').where({ contact_id: ben.id, channel: 'email' }).update({ status: 'withdrawn' });
    expect(await sendableNow()).to.equal(1);
    await knex('contact_consents').where({ contact_id: ben.id, channel: 'email' }).update({ status: 'granted' });
    await knex('suppressions').where({ email: emails.dan }).delete(); // dan's bounce lifted
    expect(await sendableNow()).to.equal(3);
    // ben moves to an address that bounced before
    const bounced = `bounced.${tag}@example.com`;
    await knex('suppressions').insert({ email: bounced, reason: 'bounce', source: 'test' });
    await knex('contacts').where({ id: ben.id }).update({ email: bounced.toUpperCase() });
    expect(await sendableNow()).to.equal(2);
    // and back; dan bounces again: as it was
    await knex('contacts').where({ id: ben.id }).update({ email: emails.ben });
    await knex('suppressions').insert({ email: emails.dan, reason: 'bounce', source: 'test' });
    expect(await sendableNow()).to.equal(2);
    // A consent row deleted outright (the contact's consents cleared).
    const ana = await knex('contacts').where({ email: emails.ana }).first('id');
    await knex('contact_consents').where({ contact_id: ana.id }).delete();
    expect(await sendableNow()).to.equal(1);
    await knex('contact_consents').insert({ contact_id: ana.id, channel: 'email', status: 'granted', source: 'test' });
    expect(await sendableNow()).to.equal(2);
  });

  it('uses engagement and booking history', async () => {
    expect((await count({ field: 'opened', op: 'within_days', value: 7 })).matching).to.equal(1);
    expect((await count({ field: 'opened', op: 'within_days', value: 2 })).matching).to.equal(0);
    expect((await count({ field: 'opened', op: 'not_within_days', value: 7 })).matching).to.equal(3);

    const { knex } = stack();
    const s = await scenario({ daysAhead: 20, adultMinor: 25000 });
    const customer = await knex('users').where({ email: 'customer@demo.test' }).first();
    // The demo customer may already have a contact (customer sync): lend its link to ana for this test.
    const owner = await knex('contacts').where({ customer_id: customer.customer_id }).first('id');
    if (owner) await knex('contacts').where({ id: owner.id }).update({ customer_id: null });
    await knex('contacts').where({ email: emails.ana }).update({ customer_id: customer.customer_id });
    try {
      const token = await loginAs('customer');
      const booking = await hold(token, s.departureId, 1);
      await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
      const tour = await knex('tours').where({ id: s.tourId }).first();
      expect((await count({ field: 'booked_tour', op: 'eq', value: tour.code })).matching).to.equal(1);
      expect((await count({ field: 'booked_destination', op: 'eq', value: 'testville' })).matching).to.equal(1);
      expect((await count({ field: 'total_spend', op: 'gte', value: 25000, currency: 'EUR' })).matching).to.equal(1);
      expect((await count({ field: 'total_spend', op: 'gte', value: 25000, currency: 'USD' })).matching).to.equal(0);
      // No bookings (or no customer at all) counts as having spent 0.
      expect((await count({ field: 'total_spend', op: 'lte', value: 10000, currency: 'EUR' })).matching).to.equal(3);
      expect((await count({ field: 'total_spend', op: 'gte', value: 0, currency: 'EUR' })).matching).to.equal(4);
      expect((await count({ not: { field: 'total_spend', op: 'gte', value: 25000, currency: 'EUR' } })).matching).to.equal(3);
      // The trip is still ahead: no last trip yet. Move its departure 10 days into the past.
      expect((await count({ field: 'last_trip', op: 'within_days', value: 365 })).matching).to.equal(0);
      await knex('departures').where({ id: s.departureId }).update({ starts_at: new Date(Date.now() - 10 * 86_400_000) });
      expect((await count({ field: 'last_trip', op: 'within_days', value: 30 })).matching).to.equal(1);
      expect((await count({ field: 'last_trip', op: 'within_days', value: 5 })).matching).to.equal(0);
      expect((await count({ field: 'last_trip', op: 'older_than_days', value: 5 })).matching).to.equal(1);
      expect((await count({ field: 'last_trip', op: 'older_than_days', value: 30 })).matching).to.equal(0);
      expect((await count({ not: { field: 'last_trip', op: 'within_days', value: 30 } })).matching).to.equal(3);
    } finally {
      await knex('contacts').where({ email: emails.ana }).update({ customer_id: null });
      if (owner) await knex('contacts').where({ id: owner.id }).update({ customer_id: customer.customer_id });
    }
  });

  it('refuses malformed rules with a clear 4xx through the API', async () => {
    const token = await loginAs('marketer');
    const bad = await api('POST', '/api/v1/segments', { token, body: { name: 'x', rules: { all: [{ field: 'shoe_size', op: 'eq', value: 42 }] } } });
    expect(bad.status).to.equal(400);
    expect(bad.body.code).to.equal('validation_failed');
    const deep = { all: [{ all: [{ all: [{ all: [{ all: [{ all: [{ all: [{ all: [{ all: [{ all: [{ field: 'language', op: 'eq', value: 'es' }] }] }] }] }] }] }] }] }] }] };
    const tooDeep = await api('POST', '/api/v1/segments', { token, body: { name: 'deep', rules: deep } });
    expect(tooDeep.status).to.equal(400);
    expect(tooDeep.body.detail).to.match(/8 levels/);
    const forbidden = await api('POST', '/api/v1/segments', { token: await loginAs('customer'), body: { name: 'x', rules: { field: 'language', op: 'eq', value: 'es' } } });
    expect(forbidden.status).to.equal(403);
    const ok = await api('POST', '/api/v1/segments', { token, body: { name: 'Spanish speakers', rules: { all: [{ field: 'tag', op: 'has', value: tag }, { field: 'language', op: 'eq', value: 'es' }] } } });
    expect(ok.status).to.equal(201);
    const counted = await api('GET', `/api/v1/segments/${ok.body.id}/count`, { token });
    expect(counted.body).to.include({ matching: 2, sendable: 1 });
    expect(segmentNodeSchema.safeParse({ any: [] }).success).to.equal(false);
  });
});
