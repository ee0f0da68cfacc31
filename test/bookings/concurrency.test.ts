/** Requests that race: two payments of one booking, a promo code's last uses. */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, eventually, hold, holdBody, scenario, seats } from '../support/bookings';

describe('concurrent requests', function () {
  this.timeout(90_000);

  it('two POST /payments at once: one payment is taken, the other is refused (409), one capture in the ledger', async () => {
    const { knex } = stack();
    const s = await scenario({ daysAhead: 20, adultMinor: 10000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const pay = () => api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });
    const answers = await Promise.all([pay(), pay()]);
    const won = answers.filter((r) => r.status === 201 || r.status === 202);
    const refused = answers.filter((r) => r.status === 409);
    expect(won, JSON.stringify(answers.map((r) => [r.status, r.body]))).to.have.length(1);
    expect(refused).to.have.length(1);
    expect(['payment_in_progress', 'nothing_to_pay']).to.include(refused[0].body.code);
    await eventually(async () => (await bookingStatus(booking.id)) === 'paid_in_full', 30_000);

    const payments = await knex('payments').where({ booking_id: booking.id });
    expect(payments).to.have.length(1);
    const charges = await knex('sandbox_payments').where({ booking_id: booking.id });
    expect(charges).to.have.length(1);
    expect(charges[0]).to.include({ status: 'captured', captured_minor: 10000 });
    expect(await knex('sandbox_operations').where({ payment_id: charges[0].id, kind: 'capture' })).to.have.length(1);
    expect((await knex('bookings').where({ id: booking.id }).first()).amount_paid_minor).to.equal(10000);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 1 });
  });

  it('a promo code with 5 uses left, 20 holds at once: exactly 5 get the discount, the rest are refused and hold nothing', async () => {
    const { knex } = stack();
    const code = `RACE${Date.now() % 1_000_000}`;
    await knex('promo_codes').insert({ code, percent_off_bp: 2000, max_uses: 5 });
    const s = await scenario({ daysAhead: 20, adultMinor: 10000, capacity: 30 });
    const token = await loginAs('customer');
    const answers = await Promise.all(Array.from({ length: 20 }, () => api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 1, { promoCode: code }) })));
    const held = answers.filter((r) => r.status === 201);
    const refused = answers.filter((r) => r.status !== 201);
    expect(held).to.have.length(5);
    for (const r of held) expect(r.body.price.total).to.equal(8000);
    expect(refused).to.have.length(15);
    for (const r of refused) expect([r.status, r.body.code]).to.deep.equal([422, 'promo_code_invalid']);
    expect((await knex('promo_codes').where({ code }).first()).used_count).to.equal(5);
    expect(await knex('bookings').where({ departure_id: s.departureId, promo_code: code })).to.have.length(5);
    expect(await knex('bookings').where({ departure_id: s.departureId })).to.have.length(5);
    expect(await seats(s.departureId)).to.deep.equal({ held: 5, sold: 0 });
  });
});
