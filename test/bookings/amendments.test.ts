import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, eventually, hold, scenario, seats } from '../support/bookings';

const pax = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'adult', firstName: `P${i}`, lastName: 'Test' }));

describe('booking amendments', function () {
  this.timeout(60_000);

  it('removes a passenger: one seat back, the difference refunded', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 10000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 2 });
    const res = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { passengers: pax(1) } });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.deep.include({ bookingStatus: 'paid_in_full', paxCount: 1, refund: { amount: 10000, currency: 'EUR' } });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 1 });
    const b = await stack().knex('bookings').where({ id: booking.id }).first();
    expect(b).to.include({ total_minor: 10000, amount_paid_minor: 20000, amount_refunded_minor: 10000 });
    expect(await stack().knex('passengers').where({ booking_id: booking.id })).to.have.length(1);
  });

  it('adds passengers: seats taken, the balance due, then paid', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 10000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    const res = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { passengers: pax(3) } });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.bookingStatus).to.equal('confirmed');
    expect(res.body.price).to.include({ total: 30000, paid: 10000, due: 20000 });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 3 });
    // The workflow continued as a new run; the balance is paid through it.
    const balance = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(balance.status, JSON.stringify(balance.body)).to.equal(201);
    expect(balance.body).to.include({ purpose: 'balance', amount: 20000, bookingStatus: 'paid_in_full' });
  });

  it('moves to another departure of the same tour, repriced, and cancels later with the right refund', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 10000, capacity: 5 });
    const { knex } = stack();
    const [later] = await knex('departures').insert({
      tour_id: s.tourId, starts_at: new Date(Date.now() + 40 * 86_400_000), timezone: 'Europe/Madrid', capacity: 5, price_overrides: JSON.stringify({ adult: 12000 }),
    }).returning('id');
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    const res = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { departureId: later.id } });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.include({ departureId: later.id, bookingStatus: 'confirmed' });
    expect(res.body.price).to.include({ total: 24000, due: 4000 });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    expect(await seats(later.id)).to.deep.equal({ held: 0, sold: 2 });
    const view = await api('GET', `/api/v1/bookings/${booking.id}`, { token });
    expect(view.body.departureId).to.equal(later.id);
    expect(view.body.timeline.map((e: any) => e.type)).to.include('amended');
    // 40 days ahead: a full refund of the 20,000 paid, from the payment made before the move.
    const cancel = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'plans changed' } });
    expect(cancel.status, JSON.stringify(cancel.body)).to.equal(200);
    expect(cancel.body.refund.amount).to.equal(20000);
    await eventually(async () => (await bookingStatus(booking.id)) === 'cancelled');
    expect(await seats(later.id)).to.deep.equal({ held: 0, sold: 0 });
  });

  it('refuses a move to another tour or a full departure, and changes nothing', async () => {
    const s = await scenario({ daysAhead: 20, capacity: 5 });
    const other = await scenario({ daysAhead: 25 });
    const { knex } = stack();
    const [full] = await knex('departures').insert({ tour_id: s.tourId, starts_at: new Date(Date.now() + 30 * 86_400_000), timezone: 'Europe/Madrid', capacity: 1 }).returning('id');
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    const wrongTour = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { departureId: other.departureId } });
    expect(wrongTour.status).to.equal(409);
    expect(wrongTour.body.code).to.equal('different_tour');
    const noRoom = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { departureId: full.id } });
    expect(noRoom.status).to.equal(409);
    expect(noRoom.body.code).to.equal('not_enough_seats');
    const empty = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: {} });
    expect(empty.status).to.equal(400);
    expect(await seats(s.departureId)).to.deep.equal({ held: 2, sold: 0 });
    expect(await seats(full.id)).to.deep.equal({ held: 0, sold: 0 });
    const b = await knex('bookings').where({ id: booking.id }).first();
    expect(b).to.include({ departure_id: s.departureId, pax_count: 2, status: 'held' });
  });
});
