import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { signStripeEvent } from '../support/fake-stripe';
import { bookingStatus, eventually, hold, scenario } from '../support/bookings';

const SECRET = process.env.STRIPE_WEBHOOK_SECRET!;

function event(id: string, type: string, object: Record<string, unknown>) {
  return JSON.stringify({ id, object: 'event', type, api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), data: { object }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null } });
}

async function webhook(payload: string, signature: string | undefined) {
  return api('POST', '/api/v1/webhooks/stripe', { raw: payload, headers: { 'content-type': 'application/json', ...(signature ? { 'stripe-signature': signature } : {}) } });
}

describe('Stripe, end to end', function () {
  this.timeout(60_000);

  it('pays a booking through the Stripe SDK with one charge', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 15000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'stripe', paymentMethod: 'pm_card_visa' } });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const intents = [...stack().stripe.paymentIntents.values()].filter((pi) => pi.metadata?.bookingId === booking.id);
    expect(intents).to.have.length(1);
    expect(intents[0]).to.include({ status: 'succeeded', amount: 15000, currency: 'eur', capture_method: 'manual' });
    expect(await bookingStatus(booking.id)).to.equal('paid_in_full');
  });

  it('continues the saga when a signed webhook says the 3-D Secure step succeeded; ignores replays and refuses forgeries', async () => {
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'stripe', paymentMethod: 'pm_card_authenticationRequired' } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const intent = [...stack().stripe.paymentIntents.values()].find((pi) => pi.metadata?.bookingId === booking.id);
    const authorized = stack().stripe.completeAction(intent.id, 'authenticate');

    const payload = event(`evt_${intent.id}`, 'payment_intent.amount_capturable_updated', authorized);
    // Forged: signed with another secret; tampered: body changed after signing; stale: outside the tolerance.
    const forged = await webhook(payload, signStripeEvent(payload, 'whsec_wrong'));
    const tampered = await webhook(payload.replace('"livemode":false', '"livemode":true'), signStripeEvent(payload, SECRET));
    const stale = await webhook(payload, signStripeEvent(payload, SECRET, Math.floor(Date.now() / 1000) - 3600));
    const unsigned = await webhook(payload, undefined);
    for (const r of [forged, tampered, stale, unsigned]) {
      expect(r.status).to.equal(400);
      expect(r.body.code).to.equal('invalid_signature');
    }
    expect(await bookingStatus(booking.id)).to.equal('held');

    const good = await webhook(payload, signStripeEvent(payload, SECRET));
    expect(good.status).to.equal(200);
    expect(good.body).to.deep.equal({ received: true, duplicate: false });
    await eventually(async () => (await bookingStatus(booking.id)) === 'paid_in_full');
    const replay = await webhook(payload, signStripeEvent(payload, SECRET));
    expect(replay.body).to.deep.equal({ received: true, duplicate: true });
    const captures = stack().stripe.requests.filter((r) => r.method === 'POST' && r.path === `/v1/payment_intents/${intent.id}/capture` && !r.replayed);
    expect(captures).to.have.length(1);
    expect(await stack().knex('webhook_events').where({ provider: 'stripe', event_id: `evt_${intent.id}` })).to.have.length(1);
  });

  it('acknowledges event types it does not act on', async () => {
    const payload = event('evt_ignored_1', 'customer.created', { id: 'cus_1', object: 'customer' });
    const res = await webhook(payload, signStripeEvent(payload, SECRET));
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ received: true, ignored: true });
  });
});
