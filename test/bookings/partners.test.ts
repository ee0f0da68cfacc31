import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, eventually, holdBody, scenario, seats } from '../support/bookings';

describe('partners and promo codes', function () {
  this.timeout(60_000);

  it('books a partner on account at net rates until the credit line is used up', async () => {
    const { knex } = stack();
    const partnerUser = await knex('users').where({ email: 'partner@demo.test' }).first();
    await knex('partners').where({ id: partnerUser.partner_id }).update({ credit_limit_minor: 30000 });
    try {
      const s = await scenario({ daysAhead: 20, adultMinor: 10000 });
      const token = await loginAs('partner');
      const first = await api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 2, { onAccount: true }) });
      expect(first.status, JSON.stringify(first.body)).to.equal(201);
      expect(first.body).to.include({ paymentPlan: 'on_account' });
      expect(first.body.price).to.include({ total: 20000, commission: 1600, net: 18400 });
      await eventually(async () => (await bookingStatus(first.body.id)) === 'confirmed');
      expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 2 });
      const pay = await api('POST', `/api/v1/bookings/${first.body.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
      expect(pay.status).to.equal(409);
      expect(pay.body.code).to.equal('booking_on_account');
      // 18,400 used of 30,000: another 18,400 does not fit.
      const second = await api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 2, { onAccount: true }) });
      expect(second.status).to.equal(409);
      expect(second.body).to.include({ code: 'credit_limit_exceeded', availableMinor: 11600 });
    } finally {
      await knex('partners').where({ id: partnerUser.partner_id }).update({ credit_limit_minor: 1500000 });
    }
  });

  it('applies a promo code once per use and refuses it when used up', async () => {
    const { knex } = stack();
    const code = `SPRING${Date.now() % 100000}`;
    await knex('promo_codes').insert({ code, percent_off_bp: 1500, max_uses: 1 });
    const s = await scenario({ daysAhead: 20, adultMinor: 10000 });
    const token = await loginAs('customer');
    const first = await api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 1, { promoCode: code.toLowerCase() }) });
    expect(first.status, JSON.stringify(first.body)).to.equal(201);
    expect(first.body.price.total).to.equal(8500);
    expect(first.body.price.breakdown.adjustments).to.deep.equal([{ kind: 'promo', label: `Promo ${code}`, amountMinor: -1500 }]);
    const second = await api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 1, { promoCode: code }) });
    expect(second.status).to.equal(422);
    expect(second.body.code).to.equal('promo_code_invalid');
    expect((await knex('promo_codes').where({ code }).first()).used_count).to.equal(1);
  });

  it('returns the first answer for a retried booking request with the same Idempotency-Key', async () => {
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const key = `hold-${Date.now()}`;
    const [a, b] = await Promise.all([
      api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 1), headers: { 'idempotency-key': key } }),
      api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 1), headers: { 'idempotency-key': key } }),
    ]);
    const statuses = [a.status, b.status].sort();
    // One runs; the concurrent twin is told to retry (409) or, if it came after, gets the stored answer.
    expect(statuses[0]).to.equal(201);
    const retry = await api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 1), headers: { 'idempotency-key': key } });
    expect(retry.status).to.equal(201);
    expect(retry.headers.get('idempotent-replayed')).to.equal('true');
    expect(await seats(s.departureId)).to.deep.equal({ held: 1, sold: 0 });
    expect(await stack().knex('bookings').where({ departure_id: s.departureId })).to.have.length(1);
  });
});
