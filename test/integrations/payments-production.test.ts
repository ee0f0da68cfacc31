import { expect } from 'chai';
import { createPaymentProviders, describeProviders, enabledProviders, sandboxEnabled } from '../../integrations/payments';
import { bookingStatus, hold, scenario } from '../support/bookings';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { request, startInstance } from '../api/account-support';

describe('payment providers in production', () => {
  it('the sandbox is off with NODE_ENV=production unless PAYMENT_SANDBOX=1', () => {
    expect(sandboxEnabled({ NODE_ENV: 'production' })).to.equal(false);
    expect(sandboxEnabled({ NODE_ENV: 'production', PAYMENT_SANDBOX: '1' })).to.equal(true);
    expect(sandboxEnabled({ NODE_ENV: 'test' })).to.equal(true);
    expect(sandboxEnabled({ PAYMENT_SANDBOX: '0' })).to.equal(false);
    expect(() => sandboxEnabled({ PAYMENT_SANDBOX: 'yes' })).to.throw(/PAYMENT_SANDBOX must be 0 or 1/);
    expect(enabledProviders({ NODE_ENV: 'production' })).to.deep.equal([]);
    expect(enabledProviders({ NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_live_x' })).to.deep.equal(['stripe']);
    expect(enabledProviders({})).to.deep.equal(['sandbox']);

    const providers = createPaymentProviders({ knex: stack().knex, publicUrl: 'http://localhost', env: { NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_test_x' } });
    expect(providers.sandbox).to.equal(undefined);
    expect(providers.stripe).to.not.equal(undefined);
    expect(createPaymentProviders({ knex: stack().knex, publicUrl: 'http://localhost', env: {} }).sandbox).to.not.equal(undefined);

    expect(describeProviders({ NODE_ENV: 'production' })[0]).to.match(/^sandbox: disabled in production/);
    expect(describeProviders({ NODE_ENV: 'production', PAYMENT_SANDBOX: '1' })[0]).to.match(/^sandbox: enabled IN PRODUCTION/);
  });

  it('the API refuses a provider that is not enabled with 422 before the workflow is asked, and the hosted page is 404', async () => {
    const production = await startInstance({ paymentEnv: { NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_test_x' } });
    try {
      const s = await scenario({ daysAhead: 60 });
      const token = await loginAs('customer');
      const booking = await hold(token, s.departureId, 1);

      for (const body of [{ provider: 'sandbox', paymentMethod: 'pm_card_visa' }, { paymentMethod: 'pm_card_visa' }, { provider: 'paypal', paymentMethod: 'x' }]) {
        const res = await request(production.baseUrl, 'POST', `/api/v1/bookings/${booking.id}/payments`, { token, body });
        expect(res.status, JSON.stringify(body)).to.equal(422);
        expect(res.body).to.include({ code: 'provider_not_configured', param: 'provider' });
        expect(res.body.detail).to.contain('enabled: stripe');
      }
      expect(await stack().knex('payments').where({ booking_id: booking.id })).to.have.length(0);
      expect(await bookingStatus(booking.id)).to.equal('held');

      // Where the sandbox is on (the test stack), the same booking can reach the hosted page...
      const pay = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_authenticationRequired' } });
      expect(pay.status).to.equal(202);
      const pagePath = new URL(pay.body.actionUrl).pathname;
      expect((await api('GET', pagePath)).status).to.equal(200);
      // ... which the production instance does not serve, nor let anyone confirm.
      const page = await request(production.baseUrl, 'GET', pagePath);
      expect(page.status).to.equal(404);
      expect(page.body.detail).to.contain('not enabled');
      const confirm = await request(production.baseUrl, 'POST', pagePath, { body: { outcome: 'authenticate' } });
      expect(confirm.status).to.equal(404);
      expect(await stack().knex('sandbox_payments').where({ id: pagePath.split('/').pop() }).first('status')).to.deep.equal({ status: 'requires_action' });
    } finally {
      await production.close();
    }
  });
});
