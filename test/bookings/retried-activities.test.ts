/** A retried activity answers what its first attempt answered (the recorded outcome), so the workflow never skips what follows. */
import { expect } from 'chai';
import { createBookingActivities } from '../../activities/booking';
import { createSimulatedSupplier } from '../../integrations/suppliers/simulated';
import { stack } from '../support/stack';
import { hold, scenario, seats } from '../support/bookings';
import { loginAs } from '../support/http';

describe('retried booking activities', function () {
  this.timeout(60_000);
  const activities = () => createBookingActivities({
    knex: stack().knex, providers: {}, supplier: createSimulatedSupplier({ knex: stack().knex }), publicUrl: 'http://localhost', timeScale: 1,
  });

  it('closeBooking: the retry answers the seats the first attempt released (the waitlist offer still happens)', async () => {
    const s = await scenario({ daysAhead: 20 });
    const booking = await hold(await loginAs('customer'), s.departureId, 3);
    const a = activities();
    const input = { bookingId: booking.id, to: 'cancelled' as const, reason: 'test', eventKey: 'retry-test/cancelled' };
    const first = await a.closeBooking(input);
    const retry = await a.closeBooking(input);
    expect(first).to.deep.equal({ seatsReleased: 3 });
    expect(retry).to.deep.equal(first);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
  });

  it('setStatus: the retry answers whether the first attempt moved the booking', async () => {
    const s = await scenario({ daysAhead: 20 });
    const booking = await hold(await loginAs('customer'), s.departureId, 1);
    const a = activities();
    const moved = { bookingId: booking.id, from: ['held'], to: 'awaiting_payment', eventKey: 'retry-test/moved' };
    expect(await a.setStatus(moved)).to.equal(true);
    expect(await a.setStatus(moved)).to.equal(true);
    const notMoved = { bookingId: booking.id, from: ['confirmed'], to: 'in_progress', eventKey: 'retry-test/not-moved' };
    expect(await a.setStatus(notMoved)).to.equal(false);
    expect(await a.setStatus(notMoved)).to.equal(false);
  });
});
