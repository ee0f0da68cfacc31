/**
 * Provider webhooks through the HTTP route, end to end: PayPal's (verified by calling PayPal's
 * verify-webhook-signature API, here the stack's fake PayPal, PAYPAL_WEBHOOK_ID set) and Stripe's
 * payment_failed. A verified event reaches the booking's workflow as a signal, once.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { signStripeEvent } from '../support/fake-stripe';
import { bookingStatus, eventually, hold, scenario, seats, timeline } from '../support/bookings';

async function paypalWebhook(body: string, headers: Record<string, string>) {
  return api('POST', '/api/v1/webhooks/paypal', { raw: body, headers: { 'content-type': 'application/json', ...headers } });
}

function paypalEvent(type: string, resource: Record<string, unknown>) {
  return JSON.stringify({
    id: `WH-${crypto.randomBytes(8).toString('hex').toUpperCase()}`, event_version: '1.0', create_time: new Date().toISOString(),
    resource_type: 'authorization', event_type: type, summary: type, resource,
  });
}

describe('payment webhooks over HTTP', function () {
  this.timeout(60_000);

  it('PayPal: a verified PAYMENT.AUTHORIZATION.CREATED continues the saga to one capture; forgeries are refused, redeliveries acknowledged', async () => {
    const { knex, paypal } = stack();
    const s = await scenario({ daysAhead: 20, adultMinor: 12000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'paypal', paymentMethod: 'paypal' } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const order = [...paypal.orders.values()].find((o) => o.purchase_units[0].custom_id === booking.id);
    expect(order, 'an order at PayPal for the booking').to.not.equal(undefined);
    expect(res.body.actionUrl).to.equal(`${paypal.url}/checkoutnow?token=${order.id}`);
    expect(order.purchase_units[0].amount).to.deep.equal({ currency_code: 'EUR', value: '120.00' });

    paypal.approve(order.id);
    const body = paypalEvent('PAYMENT.AUTHORIZATION.CREATED', {
      id: 'AUTH-FROM-WEBHOOK', status: 'CREATED', custom_id: booking.id, supplementary_data: { related_ids: { order_id: order.id } },
    });
    const headers = paypal.signWebhook(body);
    // Forged signature, a body changed after signing, no signature headers: 400, nothing signalled.
    const forged = await paypalWebhook(body, { ...headers, 'paypal-transmission-sig': 'Zm9yZ2Vk' });
    const tampered = await paypalWebhook(body.replace(booking.id, crypto.randomUUID()), headers);
    const unsigned = await paypalWebhook(body, {});
    for (const r of [forged, tampered, unsigned]) {
      expect(r.status, JSON.stringify(r.body)).to.equal(400);
      expect(r.body.code).to.equal('invalid_signature');
    }
    expect(await bookingStatus(booking.id)).to.equal('held');
    expect(await knex('webhook_events').where({ provider: 'paypal', event_id: JSON.parse(body).id })).to.have.length(0);

    const good = await paypalWebhook(body, headers);
    expect(good.status, JSON.stringify(good.body)).to.equal(200);
    expect(good.body).to.deep.equal({ received: true, duplicate: false });
    await eventually(async () => (await bookingStatus(booking.id)) === 'paid_in_full', 30_000);
    const redelivered = await paypalWebhook(body, paypal.signWebhook(body));
    expect(redelivered.body).to.deep.equal({ received: true, duplicate: true });

    // Our call reached PayPal's verification with our webhook id and the event exactly as sent.
    const verify = paypal.requests.filter((r) => r.path === '/v1/notifications/verify-webhook-signature' && r.body.webhook_event?.id === JSON.parse(body).id);
    expect(verify.length).to.be.at.least(1);
    expect(verify[0].body.webhook_id).to.equal(process.env.PAYPAL_WEBHOOK_ID);
    expect(verify[0].body.webhook_event).to.deep.equal(JSON.parse(body));
    // One capture at PayPal, of the whole amount; one event row.
    const captures = paypal.orders.get(order.id).purchase_units[0].payments.captures;
    expect(captures).to.have.length(1);
    expect(captures[0].amount).to.deep.equal({ currency_code: 'EUR', value: '120.00' });
    expect(await knex('webhook_events').where({ provider: 'paypal', event_id: JSON.parse(body).id })).to.have.length(1);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 1 });
    expect((await knex('bookings').where({ id: booking.id }).first()).amount_paid_minor).to.equal(12000);
  });

  it('PayPal: acknowledges event types it does not act on, without signalling anyone', async () => {
    const { paypal } = stack();
    const body = paypalEvent('CHECKOUT.ORDER.APPROVED', { id: 'ORDER-X', status: 'APPROVED' });
    const res = await paypalWebhook(body, paypal.signWebhook(body));
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ received: true, ignored: true });
  });

  it('Stripe: payment_intent.payment_failed after a failed 3-D Secure step declines the pending payment; nothing is captured', async () => {
    const { knex, stripe } = stack();
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'stripe', paymentMethod: 'pm_card_authenticationRequired' } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const intent = [...stripe.paymentIntents.values()].find((pi) => pi.metadata?.bookingId === booking.id);
    const failed = stripe.completeAction(intent.id, 'fail');
    expect(failed.status).to.equal('requires_payment_method');
    const payload = JSON.stringify({
      id: `evt_failed_${intent.id}`, object: 'event', type: 'payment_intent.payment_failed', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000),
      data: { object: failed }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null },
    });
    const hook = await api('POST', '/api/v1/webhooks/stripe', { raw: payload, headers: { 'content-type': 'application/json', 'stripe-signature': signStripeEvent(payload, process.env.STRIPE_WEBHOOK_SECRET!) } });
    expect(hook.status, JSON.stringify(hook.body)).to.equal(200);
    expect(hook.body).to.deep.equal({ received: true, duplicate: false });

    await eventually(async () => (await timeline(booking.id)).includes('payment_declined'), 20_000);
    const declined = await knex('booking_events').where({ booking_id: booking.id, type: 'payment_declined' }).first();
    expect(declined.data.reason).to.match(/authenticat/i);
    // The pending action is gone (the customer is no longer sent to the 3-D Secure page), nothing was captured or sold.
    const view = await api('GET', `/api/v1/bookings/${booking.id}`, { token });
    expect(view.body.pendingAction ?? null).to.equal(null);
    expect(stripe.requests.filter((r) => r.method === 'POST' && r.path === `/v1/payment_intents/${intent.id}/capture`)).to.have.length(0);
    expect(await seats(s.departureId)).to.deep.include({ sold: 0 });
    expect((await knex('bookings').where({ id: booking.id }).first()).amount_paid_minor).to.equal(0);
    expect(await timeline(booking.id)).to.not.include('payment_captured');
  });
});
