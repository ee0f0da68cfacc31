import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, hold, holdBody, scenario, seats } from '../support/bookings';

describe('waitlist', function () {
  this.timeout(60_000);

  it('offers freed seats to the first party in line that fits, with a 24-hour hold', async () => {
    const s = await scenario({ daysAhead: 40, capacity: 2, adultMinor: 5000 });
    const customer = await loginAs('customer');
    const operator = await loginAs('admin');
    const first = await hold(customer, s.departureId, 2);
    await api('POST', `/api/v1/bookings/${first.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });

    const notFull = await scenario({ daysAhead: 40, capacity: 5 });
    const refused = await api('POST', `/api/v1/departures/${notFull.departureId}/waitlist`, { token: customer, body: { passengers: holdBody(notFull.departureId, 1).passengers, contact: holdBody(notFull.departureId).contact } });
    expect(refused.status).to.equal(409);
    expect(refused.body.code).to.equal('seats_available');

    const body = (n: number, email: string) => ({ passengers: holdBody(s.departureId, n).passengers, contact: { name: 'Wait Ing', email } });
    const b = await api('POST', `/api/v1/departures/${s.departureId}/waitlist`, { token: operator, body: body(1, 'first.in.line@example.com') });
    const c = await api('POST', `/api/v1/departures/${s.departureId}/waitlist`, { token: operator, body: body(2, 'second.in.line@example.com') });
    expect(b.status).to.equal(201);
    expect(b.body).to.include({ position: 1, status: 'waiting' });
    expect(c.body.position).to.equal(2);
    const twice = await api('POST', `/api/v1/departures/${s.departureId}/waitlist`, { token: operator, body: body(1, 'FIRST.in.line@example.com') });
    expect(twice.status).to.equal(409);
    expect(twice.body.code).to.equal('already_waiting');

    // Cancelling frees two seats: the first party (1 seat) is offered; the second (2) no longer fits.
    const cancelled = await api('POST', `/api/v1/bookings/${first.id}/cancel`, { token: customer, body: { reason: 'cannot go' } });
    expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
    const offered = await eventually(async () => {
      const e = await stack().knex('waitlist_entries').where({ id: b.body.id }).first();
      return e.status === 'offered' ? e : undefined;
    });
    const offer = await stack().knex('bookings').where({ id: offered.offered_booking_id }).first();
    expect(offer.status).to.equal('held');
    expect(offer.contact.email).to.equal('first.in.line@example.com');
    expect(new Date(offer.hold_expires_at).getTime() - Date.now()).to.be.within(23.9 * 3600_000, 24 * 3600_000 + 5000);
    expect((await stack().knex('waitlist_entries').where({ id: c.body.id }).first()).status).to.equal('waiting');
    expect(await seats(s.departureId)).to.deep.equal({ held: 1, sold: 0 });
    expect(await stack().knex('outbox_messages').where({ booking_id: offer.id, template: 'waitlist_offer' })).to.have.length(1);
    await eventually(async () => (await stack().knex('bookings').where({ id: offer.id }).first()).workflow_started_at);
    const list = await api('GET', `/api/v1/departures/${s.departureId}/waitlist`, { token: operator });
    expect(list.body.data.map((e: any) => e.status)).to.deep.equal(['offered', 'waiting']);
  });
});
