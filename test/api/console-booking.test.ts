/** The console booking page's own operations: a staff payment link (the WhatsApp flow's signed link) and where the Temporal UI is. */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { hold, scenario } from '../support/bookings';
import { verifyPaymentToken } from '../../integrations/email/links';
import { emailLinkKeys } from '../../platform/secrets';

describe('console booking operations', function () {
  this.timeout(60_000);

  it('an operator makes a payment link that opens the booking\'s payment page; others may not; a closed booking has none', async () => {
    const { knex } = stack();
    const s = await scenario({ daysAhead: 20 });
    const mad = await knex('branches').where({ code: 'MAD' }).first('id');
    await knex('tours').where({ id: s.tourId }).update({ branch_id: mad.id });
    const customer = await loginAs('customer');
    const booking = await hold(customer, s.departureId, 1);
    const operator = await loginAs('operator');

    const made = await api('POST', `/api/v1/bookings/${booking.id}/payment-link`, { token: operator });
    expect(made.status, JSON.stringify(made.body)).to.equal(201);
    expect(made.body).to.include({ object: 'payment_link', bookingId: booking.id });
    expect(Date.parse(made.body.expiresAt) - Date.now()).to.be.greaterThan(29 * 86_400_000);
    const { pathname } = new URL(made.body.url);
    expect(verifyPaymentToken(decodeURIComponent(pathname.split('/').pop()!), emailLinkKeys().accepted)).to.equal(booking.id);
    const page = await fetch(`${stack().baseUrl}${pathname}`);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.include(booking.reference).and.to.include('value="pm_card_visa"');
    const audit = await knex('audit_log').where({ action: 'booking.payment_link', entity_id: booking.id }).first();
    expect(audit).to.not.equal(undefined);

    for (const role of ['accountant', 'customer', 'marketer'] as const) {
      expect((await api('POST', `/api/v1/bookings/${booking.id}/payment-link`, { token: await loginAs(role) })).status, role).to.equal(403);
    }
    await knex('bookings').where({ id: booking.id }).update({ status: 'cancelled' });
    const closed = await api('POST', `/api/v1/bookings/${booking.id}/payment-link`, { token: operator });
    expect(closed.status).to.equal(409);
    expect(closed.body.detail).to.equal('This booking is cancelled; nothing can be paid on it.');
  });

  it('staff read where the Temporal UI is, and a booking\'s workflow id; customers do not', async () => {
    const before = process.env.TEMPORAL_UI_URL;
    process.env.TEMPORAL_UI_URL = 'http://localhost:8233/';
    try {
      const settings = await api('GET', '/api/v1/console/settings', { token: await loginAs('accountant') });
      expect(settings.status).to.equal(200);
      expect(settings.body).to.deep.equal({ object: 'console_settings', temporalUiUrl: 'http://localhost:8233', temporalNamespace: 'default' });
      delete process.env.TEMPORAL_UI_URL;
      expect((await api('GET', '/api/v1/console/settings', { token: await loginAs('admin') })).body.temporalUiUrl).to.equal(null);
      expect((await api('GET', '/api/v1/console/settings', { token: await loginAs('customer') })).status).to.equal(403);
    } finally {
      if (before === undefined) delete process.env.TEMPORAL_UI_URL; else process.env.TEMPORAL_UI_URL = before;
    }
    const s = await scenario({ daysAhead: 20 });
    const customer = await loginAs('customer');
    const booking = await hold(customer, s.departureId, 1);
    expect((await api('GET', `/api/v1/bookings/${booking.id}`, { token: customer })).body.workflowId).to.equal(null);
    expect((await api('GET', `/api/v1/bookings/${booking.id}`, { token: await loginAs('admin') })).body.workflowId).to.equal(`booking-${booking.id}`);
  });
});
