/**
 * Refunds through the real provider SDKs (Stripe's and PayPal's, against the stack's fakes): a
 * cancellation's refund reaches the provider once, for the tier's amount, against the payment it
 * took, and the booking's ledger (refunds rows) says the same.
 */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, eventually, hold, scenario, seats } from '../support/bookings';

describe('refunds through Stripe and PayPal', function () {
  this.timeout(60_000);

  it('Stripe: a cancellation 20 days ahead refunds 90% of the PaymentIntent, once', async () => {
    const { knex, stripe } = stack();
    const s = await scenario({ daysAhead: 20.5, adultMinor: 10000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'stripe', paymentMethod: 'pm_card_visa' } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    const intent = [...stripe.paymentIntents.values()].find((pi) => pi.metadata?.bookingId === booking.id);
    expect(intent).to.include({ status: 'succeeded', amount_received: 10000 });

    const cancelled = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'change of plans' } });
    expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
    expect(cancelled.body.refund).to.deep.equal({ amount: 9000, currency: 'EUR', percent: 90 });
    const atStripe = [...stripe.refunds.values()].filter((r) => r.payment_intent === intent.id);
    expect(atStripe).to.have.length(1);
    expect(atStripe[0]).to.include({ amount: 9000, currency: 'eur', status: 'succeeded' });
    const created = stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds' && r.params.payment_intent === intent.id);
    expect(created.filter((r) => !r.replayed)).to.have.length(1);
    expect(created[0].headers['idempotency-key']).to.be.a('string').and.not.equal('');

    const rows = await knex('refunds').where({ booking_id: booking.id });
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ status: 'succeeded', amount_minor: 9000, provider_ref: atStripe[0].id });
    expect(rows[0].idempotency_key).to.equal(created[0].headers['idempotency-key']);
    const b = await knex('bookings').where({ id: booking.id }).first();
    expect(b).to.include({ status: 'cancelled', amount_paid_minor: 10000, amount_refunded_minor: 9000 });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
  });

  it('PayPal: approved and captured on the customer\'s return, then a cancellation refunds the capture, once', async () => {
    const { knex, paypal } = stack();
    const s = await scenario({ daysAhead: 20.5, adultMinor: 10000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'paypal', paymentMethod: 'paypal' } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const order = [...paypal.orders.values()].find((o) => o.purchase_units[0].custom_id === booking.id);
    paypal.approve(order.id);
    const back = await api('GET', `/pay/return/${booking.id}`);
    expect(back.status).to.equal(200);
    await eventually(async () => (await bookingStatus(booking.id)) === 'paid_in_full', 30_000);
    const [capture] = paypal.orders.get(order.id).purchase_units[0].payments.captures;
    expect(capture.amount).to.deep.equal({ currency_code: 'EUR', value: '100.00' });

    const cancelled = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'change of plans' } });
    expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
    expect(cancelled.body.refund).to.deep.equal({ amount: 9000, currency: 'EUR', percent: 90 });
    const atPayPal = [...paypal.refunds.values()].filter((r) => r.capture_id === capture.id);
    expect(atPayPal).to.have.length(1);
    expect(atPayPal[0]).to.deep.include({ status: 'COMPLETED', amount: { currency_code: 'EUR', value: '90.00' }, custom_id: booking.id, note_to_payer: 'change of plans' });
    const calls = paypal.requests.filter((r) => r.path === `/v2/payments/captures/${capture.id}/refund`);
    expect(calls.filter((r) => !r.replayed)).to.have.length(1);

    const rows = await knex('refunds').where({ booking_id: booking.id });
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ status: 'succeeded', amount_minor: 9000, provider_ref: atPayPal[0].id });
    expect(calls[0].headers['paypal-request-id']).to.equal(rows[0].idempotency_key);
    expect(await knex('bookings').where({ id: booking.id }).first()).to.include({ status: 'cancelled', amount_refunded_minor: 9000 });
  });
});
