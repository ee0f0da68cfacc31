/**
 * The catalog micro-cache keyed by audience: a signed-in customer shares the anonymous answer
 * (so signed-in reads are as cheap as anonymous ones), a partner only ever gets answers made for
 * that partner (its net rates), staff are never cached.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { hashPassword } from '../../services/passwords';
import { stack } from '../support/stack';
import { api, loginAs } from '../support/http';

/** A URL no other test reads: its own `from`, so every test starts with a cold entry. */
function freshUrl(country = 'ES') {
  const from = new Date(Date.now() + 60_000 + Math.floor(Math.random() * 1_000_000)).toISOString();
  return `/api/v1/departures?country=${country}&limit=3&from=${encodeURIComponent(from)}`;
}

/** A second partner (12 %, not the demo partner's 8 %) with a user of its own, logged in through the API. */
async function secondPartner(): Promise<{ token: string; partnerId: string; commissionBp: number }> {
  const { knex } = stack();
  const tag = crypto.randomBytes(3).toString('hex');
  const branch = await knex('branches').where({ code: 'MAD' }).first('id', 'currency');
  const [partner] = await knex('partners').insert({
    code: `CACHE-${tag}`, name: `Cache test agency ${tag}`, kind: 'travel_agency', branch_id: branch.id, commission_bp: 1200,
    payment_terms_days: 0, statement_period: 'monthly', currency: branch.currency,
  }).returning('id');
  const password = `pw-${tag}-long-enough`;
  const email = `partner-${tag}@cache.test`;
  await knex('users').insert({ email, name: 'Second Partner', role: 'partner', password_hash: await hashPassword(password), partner_id: partner.id });
  const login = await api('POST', '/api/v1/auth/login', { body: { email, password } });
  expect(login.status, JSON.stringify(login.body)).to.equal(200);
  return { token: login.body.accessToken, partnerId: partner.id, commissionBp: 1200 };
}

const net = (amount: number, bp: number) => amount - Math.round((amount * bp) / 10000);

describe('catalog cache by audience', () => {
  it('serves a signed-in customer the anonymous answer from the cache, as public', async () => {
    const url = freshUrl();
    const anonymous = await api('GET', url);
    expect(anonymous.status).to.equal(200);
    expect(anonymous.headers.get('x-cache')).to.equal('miss');
    expect(anonymous.body.data.length).to.be.greaterThan(0);
    const departure = anonymous.body.data[0];
    await stack().knex('departures').where({ id: departure.id }).increment('seats_sold', 1);

    const customer = await api('GET', url, { token: await loginAs('customer') });
    expect(customer.status).to.equal(200);
    expect(customer.headers.get('x-cache')).to.equal('hit');
    expect(customer.headers.get('cache-control')).to.equal('public, max-age=1');
    expect(customer.headers.get('vary')).to.match(/Authorization/);
    expect(customer.body).to.deep.equal(anonymous.body); // the same answer, up to 1 s stale
    expect(customer.body.data[0].prices[0]).to.not.have.property('netAmount');

    // The other way round: an entry made for a customer is the public one.
    const url2 = freshUrl();
    const first = await api('GET', url2, { token: await loginAs('customer') });
    expect(first.headers.get('x-cache')).to.equal('miss');
    const anon2 = await api('GET', url2);
    expect(anon2.headers.get('x-cache')).to.equal('hit');
    expect(anon2.body).to.deep.equal(first.body);

    // Staff still read live counts, never a cached answer.
    const staff = await api('GET', url, { token: await loginAs('operator') });
    expect(staff.headers.get('x-cache')).to.equal(null);
    expect(staff.body.data[0].seatsAvailable).to.equal(departure.seatsAvailable - 1);
    expect(staff.body.data[0]).to.have.property('seatsSold');
  });

  it('keeps each partner\'s net rates to that partner, and never gives them to the public', async () => {
    const other = await secondPartner();
    const demoPartner = await loginAs('partner');
    const url = freshUrl();

    // Both partners at once on a cold URL: concurrent misses are shared only within an audience.
    const [a, b] = await Promise.all([api('GET', url, { token: demoPartner }), api('GET', url, { token: other.token })]);
    for (const r of [a, b]) {
      expect(r.status).to.equal(200);
      expect(r.headers.get('cache-control')).to.equal('private, max-age=1');
    }
    const amountA = a.body.data[0].prices[0];
    const amountB = b.body.data[0].prices[0];
    expect(amountA.netAmount).to.equal(net(amountA.amount, 800));
    expect(amountB.netAmount).to.equal(net(amountB.amount, other.commissionBp));

    // Again: each from its own entry, with its own rate.
    const [a2, b2] = [await api('GET', url, { token: demoPartner }), await api('GET', url, { token: other.token })];
    expect(a2.headers.get('x-cache')).to.equal('hit');
    expect(b2.headers.get('x-cache')).to.equal('hit');
    expect(a2.body).to.deep.equal(a.body);
    expect(b2.body).to.deep.equal(b.body);
    expect(a2.body.data[0].prices[0].netAmount).to.not.equal(b2.body.data[0].prices[0].netAmount);

    // The public (anonymous, then a customer from the entry the anonymous read made) never sees a partner's entry.
    for (const [token, expected] of [[undefined, 'miss'], [await loginAs('customer'), 'hit']] as const) {
      const pub = await api('GET', url, { token });
      expect(pub.headers.get('x-cache')).to.equal(expected);
      expect(pub.headers.get('cache-control')).to.equal('public, max-age=1');
      for (const d of pub.body.data) for (const p of d.prices) expect(p).to.not.have.property('netAmount');
    }
  });

  it('keys a single tour by audience too', async () => {
    const tour = (await api('GET', '/api/v1/tours?limit=1')).body.data[0];
    const other = await secondPartner();
    const url = `/api/v1/tours/${tour.id}?lang=es`;
    const p1 = await api('GET', url, { token: await loginAs('partner') });
    const p2 = await api('GET', url, { token: other.token });
    const pub = await api('GET', url);
    expect(p1.body.prices[0].netAmount).to.equal(net(p1.body.prices[0].amount, 800));
    expect(p2.body.prices[0].netAmount).to.equal(net(p2.body.prices[0].amount, 1200));
    expect(pub.body.prices[0]).to.not.have.property('netAmount');
  });
});
